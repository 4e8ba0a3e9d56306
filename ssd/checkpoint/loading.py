"""One path from a checkpoint file to a detector: :func:`load_detector`, used by ``ssd test``,
``ssd demo`` / :meth:`ssd.Predictor.from_checkpoint`, ``ssd export`` and the benchmark.

The config is the one the checkpoint stores (``config_file`` wins when given), with ``opts`` on
top; an override the checkpoint's weights cannot honour (another class count or class list) is
refused rather than ignored. The weights are the EMA ones when the checkpoint has them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from torch import nn
from yacs.config import CfgNode

from ..data.catalog import load_class_names
from ..data.class_layout import ClassLayout
from .io import checkpoint_config, checkpoint_conflicts, describe_config, load_checkpoint, load_model_weights


@dataclass
class LoadedDetector:
    """A detector in eval mode on the CPU, the config it was built with and its class layout."""

    model: nn.Module
    cfg: CfgNode
    class_layout: ClassLayout
    path: str

    @property
    def class_names(self) -> list[str]:
        return list(self.class_layout.class_names)


def checkpoint_class_names(checkpoint: dict[str, Any], cfg: CfgNode, *, source: str) -> list[str]:
    """The checkpoint's class names (background excluded), else the config's ``DATASETS.CLASSES``;
    never a dataset on disk. Raises ``ValueError`` when neither names them."""
    names = list(checkpoint.get("class_names") or [])
    if names:
        return names
    if len(cfg.DATASETS.CLASSES):
        spec = cfg.DATASETS.CLASSES
        return load_class_names(spec if isinstance(spec, str) else list(spec))
    raise ValueError(f"{source} holds no class names; set DATASETS.CLASSES to the model's classes")


def checkpoint_layout(checkpoint: dict[str, Any], cfg: CfgNode, *, source: str) -> ClassLayout:
    """The class layout the checkpoint stores, else one from ``DATASETS.CLASSES``."""
    return ClassLayout.from_checkpoint(checkpoint) or ClassLayout(checkpoint_class_names(checkpoint, cfg,
                                                                                         source=source))


def refuse_conflicts(checkpoint: dict[str, Any], cfg: CfgNode, *, source: str) -> None:
    """``ValueError`` (one line) when ``cfg`` asks for classes other than the checkpoint's: its head
    decides them, so such an override would be silently ignored."""
    messages = checkpoint_conflicts(checkpoint, cfg, source=source)
    if messages:
        raise ValueError("; ".join(m.replace(" is ignored:", " cannot be honoured:") for m in messages)
                         + " (drop the override, or fine-tune with ssd train MODEL.WEIGHTS)")


def resolve_checkpoint_config(
    path_or_url: str, *, config_file: str | None = None, opts: Sequence[str] = ()
) -> tuple[dict[str, Any], CfgNode]:
    """``(checkpoint, config)``: the file read once, and its config (``config_file`` + ``opts``
    win; the backbone's pretrained weights are never fetched, the checkpoint holds every weight).
    Raises ``ValueError`` for overrides the checkpoint cannot honour."""
    checkpoint = load_checkpoint(path_or_url, option="--ckpt")
    cfg = checkpoint_config(checkpoint, source=path_or_url, config_file=config_file,
                            opts=[*opts, "MODEL.BACKBONE.WEIGHTS", ""])
    if describe_config(cfg, num_classes=0) == _stored_architecture(checkpoint, cfg):
        refuse_conflicts(checkpoint, cfg, source=path_or_url)
    # else another architecture altogether: building it raises the mismatch error, which names both
    return checkpoint, cfg


def _stored_architecture(checkpoint: dict[str, Any], cfg: CfgNode) -> str:
    """The backbone + neck of the config the checkpoint stores (``cfg``'s when it stores none)."""
    text = checkpoint.get("config")
    stored = yaml.safe_load(text) if isinstance(text, str) else None
    return describe_config(stored if isinstance(stored, dict) else cfg, num_classes=0)


def detector_from_checkpoint(
    checkpoint: dict[str, Any],
    cfg: CfgNode,
    *,
    source: str,
    build_model: Callable[..., nn.Module] | None = None,
) -> LoadedDetector:
    """Build ``cfg``'s model for the checkpoint's classes and load its weights (EMA when present),
    with the readable architecture-mismatch error. ``build_model`` defaults to
    :func:`ssd.modeling.build_model`."""
    if build_model is None:
        from ..modeling import build_model
    layout = checkpoint_layout(checkpoint, cfg, source=source)
    model = build_model(cfg, num_classes=layout.num_classes)
    load_model_weights(model, checkpoint, source=source, config=cfg, num_classes=layout.num_classes)
    return LoadedDetector(model=model.eval(), cfg=cfg, class_layout=layout, path=source)


def load_detector(path_or_url: str, *, config_file: str | None = None, opts: Sequence[str] = ()) -> LoadedDetector:
    """The detector of checkpoint ``path_or_url`` in eval mode (its EMA weights when it has them),
    with its config (``config_file`` + ``opts`` win) and class layout (the checkpoint's, else
    ``DATASETS.CLASSES``)."""
    checkpoint, cfg = resolve_checkpoint_config(path_or_url, config_file=config_file, opts=opts)
    return detector_from_checkpoint(checkpoint, cfg, source=path_or_url)
