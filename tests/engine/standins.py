"""Stand-ins honouring the model and loader contracts, small enough for exact, fast engine tests.

The stand-in loss is a mean over images, so the mean over equal shards of a batch equals the loss
of the whole batch: what makes a 2-process run comparable with a single process.
"""

from __future__ import annotations

import torch
from torch import nn

from ssd.data.class_layout import ClassLayout

IMAGE_SIZE = 32
CLASS_NAMES = ["circle", "square"]


class StandInDetector(nn.Module):
    """``model(images, targets) -> {"loss_box", "loss_cls"}``; eval: one box per image."""

    def __init__(self, num_classes: int, nan_at_call: int = 0, nan_images_at_call: int = 0, with_bn: bool = False,
                 nan_grad_at_call: int = 0, inf_stats_at_call: int = 0):
        super().__init__()
        self.image_size = IMAGE_SIZE
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4) if with_bn else nn.Identity()
        self.box = nn.Linear(4, 4)
        self.cls = nn.Linear(4, num_classes)
        self.nan_at_call = nan_at_call  # 1-based forward call that returns a NaN box loss
        self.nan_images_at_call = nan_images_at_call  # 1-based forward call whose images are NaN
        self.nan_grad_at_call = nan_grad_at_call  # 1-based forward call with a finite loss but NaN gradients
        self.inf_stats_at_call = inf_stats_at_call  # 1-based forward call whose BatchNorm running_var overflows
        self.calls = 0

    def _features(self, images):
        x = images.float() / 255.0
        if self.training and self.calls + 1 == self.nan_images_at_call:
            x = x * float("nan")  # a corrupt batch: BatchNorm's running statistics would absorb it
        return self.bn(self.conv(x)).relu().mean(dim=(2, 3))

    def forward(self, images, targets=None):
        f = self._features(images)
        boxes = self.box(f).sigmoid() * IMAGE_SIZE
        if not self.training:  # the same box and label everywhere, scored by the model
            scores = self.cls(f).softmax(-1)[:, 1]
            return [{"boxes": torch.tensor([[0.0, 0.0, 16.0, 16.0]]), "scores": s[None],
                     "labels": torch.tensor([1])} for s in scores]
        self.calls += 1
        if self.calls == self.inf_stats_at_call:  # a diverging run: the statistics overflow, the loss stays finite
            self.bn.running_var = torch.full_like(self.bn.running_var, float("inf"))  # not the one autograd saved
        target_boxes = torch.stack([t["boxes"][0] for t in targets])
        target_labels = torch.stack([t["labels"][0] for t in targets])
        loss_box = ((boxes - target_boxes) ** 2).mean(dim=1).mean() / IMAGE_SIZE
        if self.calls == self.nan_at_call:
            loss_box = loss_box * float("nan")
        loss_cls = nn.functional.cross_entropy(self.cls(f), target_labels)
        if self.calls == self.nan_grad_at_call:  # where() selects 0, but sqrt's backward is 0 * NaN = NaN
            w = self.box.weight.sum()
            loss_cls = loss_cls + torch.where(w > 1e9, torch.sqrt(-w.abs() - 1.0), torch.zeros_like(w))
        return {"loss_box": loss_box, "loss_cls": loss_cls}


def make_batch(iteration: int, index: int, batch: int):
    """Global batch ``iteration`` as a pure function of the iteration (like the real sampler)."""
    g = torch.Generator().manual_seed(1000 + iteration)
    images = torch.randint(0, 256, (batch, 3, IMAGE_SIZE, IMAGE_SIZE), generator=g, dtype=torch.uint8)
    xy = torch.rand(batch, 2, generator=g) * 16
    boxes = torch.cat([xy, xy + 8 + torch.rand(batch, 2, generator=g) * 8], dim=1)
    labels = torch.randint(1, len(CLASS_NAMES) + 1, (batch,), generator=g)
    targets = [{"boxes": boxes[i : i + 1], "labels": labels[i : i + 1]} for i in range(batch)]
    infos = [{"index": index + i, "image_id": index + i, "height": IMAGE_SIZE, "width": IMAGE_SIZE}
             for i in range(batch)]
    return images, targets, infos


class StandInTestSet:
    """``n`` images; even ones hold the box the stand-in predicts (class 1), odd ones another."""

    class_names = CLASS_NAMES
    class_layout = ClassLayout(CLASS_NAMES)  # the dataset contract: no category ids, as a VOC-format set

    def __init__(self, n: int = 6):
        self.images = make_batch(99, 0, n)[0]
        self.boxes = [[0.0, 0.0, 16.0, 16.0] if i % 2 == 0 else [8.0, 8.0, 30.0, 30.0] for i in range(n)]

    def __len__(self):
        return len(self.boxes)

    def get_img_info(self, i):
        return {"image_id": i, "height": IMAGE_SIZE, "width": IMAGE_SIZE, "file_name": f"{i}.jpg"}

    def get_annotation(self, i):
        import numpy as np

        return {"boxes": np.array([self.boxes[i]], np.float32), "labels": np.array([1 + i % 2]),
                "difficult": np.zeros(1, bool)}


class ShardLoader:
    """Rank ``r`` gets images ``r, r + world_size, ...`` in batches of 2, like the real test loader."""

    def __init__(self, dataset, rank: int, world_size: int):
        self.dataset = dataset
        self.indices = list(range(rank, len(dataset), world_size))

    def __iter__(self):
        for k in range(0, len(self.indices), 2):
            idx = self.indices[k : k + 2]
            infos = [{"index": i, "image_id": i, "height": IMAGE_SIZE, "width": IMAGE_SIZE} for i in idx]
            yield self.dataset.images[idx], [{} for _ in idx], infos


def standin_trainer(*, nan_at_call: int = 0, nan_images_at_call: int = 0, nan_grad_at_call: int = 0,
                    inf_stats_at_call: int = 0, with_bn: bool = False, stop_after: int | None = None,
                    class_names=CLASS_NAMES, evaluate=None):
    """A :class:`ssd.engine.DefaultTrainer` subclass building the stand-ins; ``stop_after`` batches
    simulates a killed run; ``evaluate`` replaces :func:`ssd.engine.evaluate` (e.g. :class:`SchemaEvaluate`)."""
    from ssd.engine import DefaultTrainer

    class StandInTrainer(DefaultTrainer):
        @classmethod
        def build_class_names(cls, cfg):
            return list(class_names)

        @classmethod
        def build_model(cls, cfg, *, num_classes):
            torch.manual_seed(cfg.SEED)
            return StandInDetector(num_classes, nan_at_call=nan_at_call, nan_images_at_call=nan_images_at_call,
                                   with_bn=with_bn, nan_grad_at_call=nan_grad_at_call,
                                   inf_stats_at_call=inf_stats_at_call)

        @classmethod
        def build_train_loader(cls, cfg, *, start_iter=0, rank=0, world_size=1):
            per = cfg.SOLVER.BATCH_SIZE // world_size
            for n, it in enumerate(range(start_iter, cfg.SOLVER.MAX_ITER)):
                if stop_after is not None and n >= stop_after:
                    raise KeyboardInterrupt(f"simulated kill before iteration {it + 1}")
                images, targets, infos = make_batch(it, 0, cfg.SOLVER.BATCH_SIZE)
                sl = slice(rank * per, (rank + 1) * per)
                yield images[sl], targets[sl], infos[sl]

        @classmethod
        def build_test_loader(cls, cfg, name, *, rank=0, world_size=1):
            return ShardLoader(StandInTestSet(), rank, world_size)

        def evaluate(self, model, *, step):
            if evaluate is None:
                return super().evaluate(model, step=step)
            return evaluate(self.cfg, model, device=self.device, class_names=self.class_names, writer=self.writer,
                            step=step)

    return StandInTrainer


class SchemaEvaluate:
    """Stands in for :func:`ssd.engine.evaluate`: the n-th call returns ``{name: result}`` for every
    test set, ``result`` in the :mod:`ssd.evaluation.schema` form with AP = ``values[n]``; records
    the iteration and the model it was given."""

    def __init__(self, values):
        self.values, self.calls = list(values), []

    def __call__(self, cfg, model, *, step=None, **kw):
        from ssd.evaluation.schema import task_result

        value = self.values[len(self.calls)]
        self.calls.append((step, model, {k: v.detach().clone() for k, v in model.state_dict().items()}))
        per_class = {"circle": value, "square": value / 2}
        result = {"bbox": task_result(metrics={"AP": value, "AP50": min(1.0, 2 * value)}, primary="AP",
                                      per_class=per_class)}
        return {name: result for name in cfg.DATASETS.TEST}


def standin_cfg(output_dir: str, *, test_sets: tuple = (), **solver):
    from ssd.config import get_cfg

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.NUM_CLASSES = 0
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.DATASETS.TEST = test_sets
    cfg.INPUT.IMAGE_SIZE = IMAGE_SIZE
    s = cfg.SOLVER
    s.MAX_ITER, s.BATCH_SIZE, s.LR, s.WARMUP_ITERS, s.WARMUP_FACTOR = 6, 4, 0.1, 2, 0.5
    s.LR_SCHEDULER, s.LR_STEPS, s.CHECKPOINT_PERIOD, s.LOG_PERIOD, s.KEEP_CHECKPOINTS = "multistep", [4], 3, 1, 2
    for k, v in solver.items():
        s[k] = v
    cfg.freeze()
    return cfg
