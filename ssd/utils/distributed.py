"""Process-group helpers that also work (as no-ops) in a single process.

Launch model: ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and the rendezvous
address); without them the program runs as one process on its own.
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def per_process_batch(total: int, world_size: int) -> int:
    """Images per process of ``SOLVER.BATCH_SIZE = total`` (always the total over all processes);
    raises ``ValueError`` when ``total`` does not split evenly."""
    if total % world_size:
        raise ValueError(
            f"SOLVER.BATCH_SIZE = {total} is the total over all processes and must be divisible by "
            f"the world size {world_size}"
        )
    return total // world_size


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main_process() -> bool:
    return get_rank() == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_distributed(device: torch.device, *, timeout_minutes: int = 30) -> torch.device:
    """Join the process group torchrun prepared, if any; return this process's device.

    NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on CPU. Without torchrun's
    environment nothing happens and ``device`` is returned unchanged.
    """
    if not launched_by_torchrun() or is_distributed():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", get_local_rank())
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    return device


def destroy_distributed() -> None:
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-element list in a single process)."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, *, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def reduce_mean(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Average each scalar tensor over ranks (for logging; gradients are averaged by DDP)."""
    if not is_distributed() or not values:
        return values
    names = sorted(values)
    stacked = torch.stack([values[k].detach().float() for k in names])
    dist.all_reduce(stacked)
    stacked /= get_world_size()
    return dict(zip(names, stacked, strict=True))


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """``value`` summed over ranks, as a new tensor outside autograd (``value`` itself in a single
    process): for counts such as the loss's positive priors. Every rank must call it."""
    if not is_distributed():
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total
