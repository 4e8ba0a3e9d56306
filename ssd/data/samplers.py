"""Samplers: iteration-based, resumable, distributed training batches; disjoint test shards.

The training stream is one global sequence of dataset indices -- epoch ``e`` is a permutation of
``range(N)`` seeded by ``(seed, e)`` -- cut into global batches of ``world_size * batch_size``;
rank ``r`` takes its contiguous slice of each. Every position also gets its own augmentation
seed, so a sample's pixels depend only on ``(seed, position)``: resuming at iteration ``k``, the
number of workers and the world size (for a fixed total batch) change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

logger = logging.getLogger(__name__)


def sample_seed(seed: int, position: int) -> int:
    """Augmentation seed of global stream position ``position`` (independent streams per position)."""
    return int(np.random.SeedSequence([seed, position]).generate_state(1, dtype=np.uint64)[0] >> 1)


class IterationBatchSampler(Sampler):
    """Yields ``max_iter - start_iter`` batches of ``(dataset index, augmentation seed)`` pairs.

    Args:
        num_samples: dataset length ``N``.
        batch_size: images per batch of this process.
        max_iter: total iterations of the run; iteration ``start_iter`` is yielded first.
        seed: base seed; ``< 0`` draws one at random (single process only).
        rank, world_size: this process's slice of each global batch.
    """

    def __init__(
        self,
        *,
        num_samples: int,
        batch_size: int,
        max_iter: int,
        start_iter: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"cannot sample batches from an empty dataset (num_samples = {num_samples})")
        if not 0 <= start_iter <= max_iter:
            raise ValueError(f"start_iter = {start_iter} must lie in [0, max_iter = {max_iter}]")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank = {rank} must lie in [0, world_size = {world_size})")
        if seed < 0:
            if world_size > 1:
                raise ValueError(
                    f"SEED = {seed} (random) with world_size = {world_size}: processes would "
                    "draw different orders; set a fixed SEED"
                )
            seed = int(np.random.SeedSequence().generate_state(1)[0])
            logger.info("random data seed %d", seed)
        self.num_samples, self.batch_size = num_samples, batch_size
        self.max_iter, self.start_iter = max_iter, start_iter
        self.seed, self.rank, self.world_size = seed, rank, world_size

    def __len__(self) -> int:
        return self.max_iter - self.start_iter

    def _epoch(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_samples)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        n, global_batch = self.num_samples, self.batch_size * self.world_size
        cached_epoch, order = -1, None
        for it in range(self.start_iter, self.max_iter):
            first = it * global_batch + self.rank * self.batch_size
            batch = []
            for pos in range(first, first + self.batch_size):
                epoch = pos // n
                if epoch != cached_epoch:
                    cached_epoch, order = epoch, self._epoch(epoch)
                batch.append((int(order[pos % n]), sample_seed(self.seed, pos)))
            yield batch


class ShardSampler(Sampler):
    """Indices ``range(N)`` split into ``world_size`` contiguous, disjoint shards (sizes differ by <= 1).

    For evaluation: nothing is repeated or padded, so gathered results count every image once.
    """

    def __init__(self, *, num_samples: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank = {rank} must lie in [0, world_size = {world_size})")
        per, extra = divmod(num_samples, world_size)
        self.begin = rank * per + min(rank, extra)
        self.end = self.begin + per + (1 if rank < extra else 0)

    def __len__(self) -> int:
        return self.end - self.begin

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.begin, self.end))
