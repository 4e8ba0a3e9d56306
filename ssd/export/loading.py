"""A detector from a checkpoint, built with the config stored in it (or a given config file)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn
from yacs.config import CfgNode

from ..engine.predictor import checkpoint_class_names
from ..modeling import build_model
from ..utils.checkpoint import checkpoint_config, load_checkpoint, load_model_weights


@dataclass
class LoadedDetector:
    model: nn.Module  # eval mode, CPU
    cfg: CfgNode
    class_names: list[str]  # foreground names; label l is class_names[l - 1]
    label_to_category_id: dict[int, int] | None  # the checkpoint's own label layout, if it has one


def load_detector(ckpt: str, *, config_file: str | None = None, opts: Sequence[str] = ()) -> LoadedDetector:
    """The detector of checkpoint ``ckpt`` (path or URL) in eval mode (its EMA weights when it has
    them), with its config (``config_file`` + ``opts`` win) and class names (the checkpoint's, else
    ``DATASETS.CLASSES``)."""
    state = load_checkpoint(ckpt, option="--ckpt")
    # the checkpoint holds every weight: never fetch the backbone's pretrained ones
    cfg = checkpoint_config(state, source=ckpt, config_file=config_file,
                            opts=[*opts, "MODEL.BACKBONE.WEIGHTS", ""])
    class_names = checkpoint_class_names(state, cfg, source=ckpt)
    model = build_model(cfg, num_classes=len(class_names) + 1)
    load_model_weights(model, state, source=ckpt, config=cfg, num_classes=len(class_names) + 1)
    mapping = state.get("label_to_category_id")
    mapping = {int(k): int(v) for k, v in mapping.items()} if mapping else None
    return LoadedDetector(model=model.eval(), cfg=cfg, class_names=class_names, label_to_category_id=mapping)
