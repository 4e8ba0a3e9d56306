"""Builders: the only place in ``ssd.data`` that reads the config."""

from __future__ import annotations

import logging

import torch
from torch.utils.data import DataLoader
from yacs.config import CfgNode

from ..utils.distributed import per_process_batch
from .catalog import DatasetSpec, load_class_names, resolve_dataset
from .collate import collate_detection
from .datasets import ConcatDetectionDataset
from .formats import FORMATS
from .samplers import IterationBatchSampler, ShardSampler
from .transforms import TRAIN_PIPELINES, ResizeTransform

logger = logging.getLogger(__name__)


def _spec(cfg: CfgNode, name: str) -> DatasetSpec:
    return resolve_dataset(name, catalog=cfg.DATASETS.CATALOG, data_root=cfg.DATASETS.ROOT)


def _declared_classes(cfg: CfgNode, spec: DatasetSpec) -> list[str] | None:
    """The catalog entry's CLASSES, else DATASETS.CLASSES, else ``None`` (the format's default)."""
    if spec.classes is not None:
        return load_class_names(spec.classes)
    if len(cfg.DATASETS.CLASSES):
        return load_class_names(list(cfg.DATASETS.CLASSES))
    return None


def build_transform(cfg: CfgNode, *, is_train: bool):
    """INPUT.AUGMENTATION's training pipeline, or the test-time resize (INPUT.RESIZE_MODE).

    Every registered pipeline takes the same keyword arguments (see :mod:`ssd.data.transforms.pipelines`).
    """
    size = cfg.INPUT.IMAGE_SIZE
    if not is_train:
        return ResizeTransform(size=size, mode=cfg.INPUT.RESIZE_MODE)
    # The expand canvas is filled with the mean in 0-255 pixels, whatever range PIXEL_MEAN is in.
    mean_255 = [m * 255.0 / cfg.INPUT.PIXEL_RANGE for m in cfg.INPUT.PIXEL_MEAN]
    if cfg.INPUT.AUGMENTATION not in TRAIN_PIPELINES:  # the registry is the list of pipelines (no copy)
        raise ValueError(f"INPUT.AUGMENTATION = {cfg.INPUT.AUGMENTATION!r}; expected one of {list(TRAIN_PIPELINES)}")
    return TRAIN_PIPELINES.get(cfg.INPUT.AUGMENTATION)(
        size=size, pixel_mean=mean_255, random_interpolation=cfg.INPUT.RANDOM_INTERPOLATION
    )


def build_dataset(cfg: CfgNode, name: str, *, is_train: bool):
    """One catalog dataset with the training pipeline (``is_train``) or the test resize attached.

    Training datasets leave out difficult objects (unless DATASETS.KEEP_DIFFICULT) and images
    without targets (unless DATASETS.TRAIN_EMPTY_IMAGES).
    """
    spec = _spec(cfg, name)
    dataset = FORMATS.get(spec.format).build(
        spec.paths,
        class_names=_declared_classes(cfg, spec),
        transform=build_transform(cfg, is_train=is_train),
        training=is_train,
        keep_difficult=cfg.DATASETS.KEEP_DIFFICULT,
        keep_empty=not is_train or cfg.DATASETS.TRAIN_EMPTY_IMAGES,
        skip_corrupt=is_train and cfg.INPUT.SKIP_CORRUPT_IMAGES,
        allow_outside_root=cfg.DATASETS.ALLOW_OUTSIDE_ROOT,
    )
    logger.info("dataset %s (%s): %d images, %d classes", name, spec.format, len(dataset), len(dataset.class_names))
    return dataset


def class_names_for(cfg: CfgNode, *, train: bool = True) -> list[str]:
    """Class names (no background) of DATASETS.TRAIN (or TEST), without decoding any image.

    Raises ``ValueError`` quoting both lists when the datasets disagree.
    """
    names = list(cfg.DATASETS.TRAIN if train else cfg.DATASETS.TEST) or list(cfg.DATASETS.TEST)
    if not names:
        raise ValueError("DATASETS.TRAIN and DATASETS.TEST are both empty: no class names to derive")
    result: list[str] | None = None
    for name in names:
        spec = _spec(cfg, name)
        classes = _declared_classes(cfg, spec)
        if classes is None:
            classes = list(FORMATS.get(spec.format).default_class_names(spec.paths))
        if result is None:
            result, first = classes, name
        elif classes != result:
            raise ValueError(f"datasets {first!r} and {name!r} have different class lists: {result} vs {classes}")
    return result


def resolve_num_classes(cfg_num_classes: int, class_names: list[str]) -> int:
    """MODEL.NUM_CLASSES (background included) checked against the dataset; 0 derives it.

    Raises ``ValueError`` quoting both numbers when they disagree.
    """
    derived = len(class_names) + 1
    if cfg_num_classes == 0:
        return derived
    if cfg_num_classes != derived:
        raise ValueError(
            f"MODEL.NUM_CLASSES = {cfg_num_classes} but the dataset has {len(class_names)} classes "
            f"(+ background = {derived}): {list(class_names)}; set MODEL.NUM_CLASSES to {derived} or 0 (auto)"
        )
    return derived


def _loader_kwargs(cfg: CfgNode) -> dict:
    workers = cfg.DATALOADER.NUM_WORKERS
    return dict(
        num_workers=workers,
        collate_fn=collate_detection,
        pin_memory=cfg.DATALOADER.PIN_MEMORY and torch.cuda.is_available(),
        persistent_workers=cfg.DATALOADER.PERSISTENT_WORKERS and workers > 0,
    )


def build_train_dataset(cfg: CfgNode):
    """DATASETS.TRAIN built for training, concatenated when there are several."""
    names = list(cfg.DATASETS.TRAIN)
    if not names:
        raise ValueError("DATASETS.TRAIN is empty: name at least one dataset")
    datasets = [build_dataset(cfg, name, is_train=True) for name in names]
    return datasets[0] if len(datasets) == 1 else ConcatDetectionDataset(datasets, names=names)


def build_train_loader(cfg: CfgNode, *, start_iter: int = 0, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Iteration-based loader of ``SOLVER.MAX_ITER - start_iter`` batches ``(images, targets, infos)``.

    Per-process batch = SOLVER.BATCH_SIZE // world_size; the batches are a pure function of SEED
    and the iteration (see :mod:`ssd.data.samplers`), so resuming reproduces the uninterrupted run.
    """
    per_process = per_process_batch(cfg.SOLVER.BATCH_SIZE, world_size)
    dataset = build_train_dataset(cfg)
    sampler = IterationBatchSampler(
        num_samples=len(dataset),
        batch_size=per_process,
        max_iter=cfg.SOLVER.MAX_ITER,
        start_iter=start_iter,
        seed=cfg.SEED,
        rank=rank,
        world_size=world_size,
    )
    return DataLoader(dataset, batch_sampler=sampler, **_loader_kwargs(cfg))


def build_test_loader(cfg: CfgNode, dataset_name: str, *, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Loader over one test dataset, resized only; rank ``r`` gets the ``r``-th disjoint shard."""
    dataset = build_dataset(cfg, dataset_name, is_train=False)
    sampler = ShardSampler(num_samples=len(dataset), rank=rank, world_size=world_size)
    return DataLoader(dataset, batch_size=cfg.TEST.BATCH_SIZE, sampler=sampler, **_loader_kwargs(cfg))
