"""Iteration sampler: resumption, epochs as permutations, disjoint ranks; test shards."""

from __future__ import annotations

import pytest

from ssd.data import IterationBatchSampler, ShardSampler


def _batches(**kw):
    args = dict(num_samples=10, batch_size=3, max_iter=12, seed=7)
    args.update(kw)
    return list(IterationBatchSampler(**args))


def test_length_and_batch_shape():
    batches = _batches(start_iter=4)
    assert len(IterationBatchSampler(num_samples=10, batch_size=3, max_iter=12, start_iter=4)) == 8
    assert len(batches) == 8 and all(len(b) == 3 for b in batches)


def test_resume_gives_the_remaining_batches_of_the_full_run():
    full = _batches()
    for k in (0, 1, 5, 11, 12):
        assert _batches(start_iter=k) == full[k:]


def test_each_epoch_is_a_permutation_and_epochs_differ():
    stream = [i for b in _batches(batch_size=5, max_iter=4) for i, _ in b]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    assert stream[:10] != stream[10:]
    seeds = [s for b in _batches(batch_size=5, max_iter=4) for _, s in b]
    assert len(set(seeds)) == 20  # every position its own augmentation seed


def test_two_ranks_cover_the_dataset_without_overlap():
    # one epoch: 2 iterations x 2 ranks x 3 images = 12 images
    r0 = _batches(num_samples=12, batch_size=3, max_iter=2, rank=0, world_size=2)
    r1 = _batches(num_samples=12, batch_size=3, max_iter=2, rank=1, world_size=2)
    idx0 = [i for b in r0 for i, _ in b]
    idx1 = [i for b in r1 for i, _ in b]
    assert not set(idx0) & set(idx1)
    assert sorted(idx0 + idx1) == list(range(12))
    # the two ranks together see exactly what one process with the total batch sees
    single = _batches(num_samples=12, batch_size=6, max_iter=2)
    assert [a + b for a, b in zip(r0, r1, strict=True)] == single


def test_seed_changes_the_order():
    assert _batches(seed=1) != _batches(seed=2)


def test_bad_arguments_quote_values():
    with pytest.raises(ValueError, match=r"rank = 2 must lie in \[0, world_size = 2\)"):
        IterationBatchSampler(num_samples=4, batch_size=1, max_iter=3, rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"start_iter = 5 must lie in \[0, max_iter = 3\]"):
        IterationBatchSampler(num_samples=4, batch_size=1, max_iter=3, start_iter=5)
    with pytest.raises(ValueError, match="SEED = -1"):
        IterationBatchSampler(num_samples=4, batch_size=1, max_iter=3, seed=-1, world_size=2)


@pytest.mark.parametrize("n,world", [(10, 3), (2, 4), (9, 1)])
def test_shards_are_disjoint_and_cover(n, world):
    shards = [list(ShardSampler(num_samples=n, rank=r, world_size=world)) for r in range(world)]
    assert [i for s in shards for i in s] == list(range(n))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
