"""A detector from a checkpoint, built with the config stored in it (or a given config file)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn
from yacs.config import CfgNode

from ..config import load_config
from ..modeling import build_model
from ..utils.checkpoint import load_checkpoint, model_state


@dataclass
class LoadedDetector:
    model: nn.Module  # eval mode, CPU
    cfg: CfgNode
    class_names: list[str]  # foreground names; label l is class_names[l - 1]
    label_to_category_id: dict[int, int] | None  # the checkpoint's own label layout, if it has one


def config_from_checkpoint(state: dict, *, source: str, config_file: str | None = None,
                           opts: Sequence[str] = ()) -> CfgNode:
    """``config_file`` + ``opts`` when a file is given, else the resolved config the checkpoint
    stores (``state["config"]``) + ``opts``."""
    if config_file:
        return load_config(config_file, list(opts))
    text = state.get("config")
    if not text:
        raise ValueError(f"{source} stores no config: pass --config-file")
    with tempfile.TemporaryDirectory(prefix="ssd_cfg_") as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return load_config(path, list(opts))


def load_detector(ckpt: str, *, config_file: str | None = None, opts: Sequence[str] = ()) -> LoadedDetector:
    """The detector of checkpoint ``ckpt`` (path or URL) in eval mode, with its config and class
    names (from the checkpoint; else ``DATASETS.CLASSES``)."""
    from ..data import load_class_names

    state = load_checkpoint(ckpt)
    cfg = config_from_checkpoint(state, source=ckpt, config_file=config_file, opts=opts)
    class_names = list(state.get("class_names") or [])
    if not class_names:
        if not len(cfg.DATASETS.CLASSES):
            raise ValueError(f"{ckpt} holds no class names; set DATASETS.CLASSES in the config")
        class_names = load_class_names(list(cfg.DATASETS.CLASSES))
    model = build_model(cfg, num_classes=len(class_names) + 1)
    model.load_state_dict(model_state(state, source=ckpt))
    mapping = state.get("label_to_category_id")
    mapping = {int(k): int(v) for k, v in mapping.items()} if mapping else None
    return LoadedDetector(model=model.eval(), cfg=cfg, class_names=class_names, label_to_category_id=mapping)
