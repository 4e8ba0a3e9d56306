"""Converting a foreign checkpoint: pick the rename rule of its source, read its class count off
its classification head, choose its class layout, and package the result as this framework's
checkpoint (the format of :mod:`ssd.utils.checkpoint`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor
from yacs.config import CfgNode

from ..checkpoint.io import place_weights
from ..data.catalog import load_class_names
from ..modeling import SSDDetector, build_model
from ..modeling.anchors import boxes_per_location
from ..modeling.weights import fetch_state_dict
from ..utils.state_dict import strip_prefix
from .classes import ClassLayout, torchvision_coco_layout
from .from_lufficc import lufficc_layout, lufficc_rename
from .from_tensorflow import (
    batchnorm_counters,
    describe_graph,
    read_graph,
    tf_config,
    tf_rename,
    tf_state_dict,
    variables_outside_model,
)
from .from_torchvision import torchvision_rename
from .mapping import Rename, remap_state_dict

logger = logging.getLogger(__name__)

SOURCES = ("torchvision", "lufficc", "tensorflow")
_FIRST_CLS_BIAS = re.compile(r"^box_head\.predictor\.cls_heads\.0\.(?:.+\.)?bias$")


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"source = {source!r}; expected one of {SOURCES}")


def source_rename(source: str, keys: Sequence[str]) -> Rename:
    """The rename rule for a checkpoint of ``source`` with these keys."""
    _check_source(source)
    return torchvision_rename(keys) if source == "torchvision" else lufficc_rename(keys)


def head_num_classes(state_dict: Mapping[str, Tensor], *, rename: Rename, boxes_at_level0: int) -> int:
    """Classes (background included) predicted by a source checkpoint: the last bias of its first
    classification head (state dicts list a head's layers in order) over the boxes per cell."""
    biases = [v for k, v in state_dict.items() if (t := rename(k)) is not None and _FIRST_CLS_BIAS.match(t)]
    if not biases:
        raise ValueError("the checkpoint has no classification head the rename rule recognises")
    channels = biases[-1].numel()
    if channels % boxes_at_level0:
        raise ValueError(
            f"the first classification head has {channels} outputs, not a multiple of the "
            f"{boxes_at_level0} default boxes per cell the config gives level 0: wrong config?"
        )
    return channels // boxes_at_level0


def class_layout(source: str, num_classes: int, class_names: Sequence[str] | None = None) -> ClassLayout:
    """The class layout of a ``source`` head with ``num_classes`` outputs; explicit ``class_names``
    (a model fine-tuned on another dataset) take precedence over the source's known layouts."""
    _check_source(source)
    if source == "lufficc":
        return lufficc_layout(num_classes, list(class_names) if class_names else None)
    if class_names:
        return lufficc_layout(num_classes, list(class_names))  # same length check, no known layout
    layout = torchvision_coco_layout()
    if num_classes != layout.num_classes:
        raise ValueError(
            f"a torchvision head with {num_classes} classes is not its COCO layout "
            f"({layout.num_classes}): name the classes with DATASETS.CLASSES"
        )
    return layout


def converted_checkpoint(
    *, model_state: Mapping[str, Tensor], config_yaml: str, layout: ClassLayout, source: str, origin: str
) -> dict[str, Any]:
    """This framework's checkpoint for converted weights: ``model`` (state dict), ``config`` (the
    resolved config as YAML), ``class_names`` (background excluded), ``label_to_category_id``
    (``None`` unless COCO) and ``converted_from`` (source format and file). Plain values only, so
    ``torch.load(weights_only=True)`` reads it."""
    return {
        "model": dict(model_state),
        "config": config_yaml,
        "class_names": list(layout.class_names),
        "label_to_category_id": dict(layout.label_to_category_id) if layout.label_to_category_id else None,
        "converted_from": {"source": source, "file": origin},
    }


def _class_names(cfg: CfgNode) -> list[str] | None:
    """DATASETS.CLASSES through the one class-list loader (a list, a file, or ``["/data/classes.txt"]``)."""
    names = cfg.DATASETS.CLASSES
    return load_class_names(names if isinstance(names, str) else list(names)) if len(names) else None


def convert_weights(
    *, source: str, weights: str, cfg: CfgNode, allow_partial: bool = False, option: str = "--input"
) -> tuple[SSDDetector, dict[str, Any]]:
    """Build the model ``cfg`` describes, fill it from ``weights`` (a file, URL or torchvision
    weights name; see :func:`ssd.modeling.weights.fetch_state_dict`) and return it with its checkpoint.
    ``option`` names where the user gave ``weights`` (for the offline message of a URL).

    Raises ``ValueError`` listing every unplaced key when the conversion is partial and
    ``allow_partial`` is false; with it, the unfilled tensors keep their initial values.
    """
    cfg = cfg.clone()
    cfg.defrost()
    state = strip_prefix(fetch_state_dict(weights, option=option))
    rename = source_rename(source, list(state))
    boxes = boxes_per_location(cfg.MODEL.PRIORS.ASPECT_RATIOS)[0]
    layout = class_layout(source, head_num_classes(state, rename=rename, boxes_at_level0=boxes), _class_names(cfg))
    cfg.MODEL.NUM_CLASSES = layout.num_classes
    model = build_model(cfg, num_classes=layout.num_classes)

    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    conversion = remap_state_dict(state, rename=rename, target_shapes=target)
    if not conversion.complete:
        report = f"{weights} -> {source} model of this config:\n{conversion.describe()}"
        if not allow_partial:
            raise ValueError(f"{report}\nrefusing to write a partial model (pass --allow-partial to write it anyway)")
        logger.warning("%s\nwriting a partial model: the keys above keep their initial values", report)
    place_weights(model, conversion.state_dict, may_miss=() if conversion.complete else list(target))
    cfg.freeze()
    checkpoint = converted_checkpoint(
        model_state=model.state_dict(), config_yaml=cfg.dump(), layout=layout, source=source, origin=weights
    )
    logger.info("%s: placed %d tensors from %s; %d classes", source, len(conversion.state_dict), weights,
                layout.num_classes)
    return model, checkpoint


def convert_tensorflow(
    *, graph_path: str, cfg: CfgNode, class_names: Sequence[str] | None = None
) -> tuple[SSDDetector, dict[str, Any]]:
    """A TF object-detection API SSD / SSDLite MobileNetV2 ``frozen_inference_graph.pb`` as this
    framework's model and checkpoint. The architecture comes from the graph
    (:func:`ssd.convert.from_tensorflow.describe_graph`) and is written into ``cfg`` (a fresh
    config; other keys, e.g. DATASETS, are kept). ``class_names`` default to ``class_1..``.

    Raises ``ValueError`` for other architectures and when any variable of the graph is not placed.
    """
    graph = read_graph(graph_path)
    spec = describe_graph(graph)
    cfg = tf_config(spec, cfg.clone())
    cfg.defrost()
    names = list(class_names) if class_names else [f"class_{i}" for i in range(1, spec.num_classes)]
    layout = ClassLayout(class_names=names)
    if layout.num_classes != spec.num_classes:
        raise ValueError(
            f"{len(names)} class names for a graph with {spec.num_classes - 1} classes (background excluded)"
        )
    model = build_model(cfg, num_classes=spec.num_classes)
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    counters = batchnorm_counters(target)
    conversion = remap_state_dict(
        tf_state_dict(graph),
        rename=lambda k: tf_rename(k, depthwise=spec.depthwise),
        target_shapes={k: s for k, s in target.items() if k not in counters},
    )
    outside = variables_outside_model(graph)
    if not conversion.complete or outside:
        extra = "".join(f"\n  {k}: outside the scopes read" for k in outside)
        raise ValueError(f"{graph_path}: {conversion.describe()}{extra}")
    place_weights(model, conversion.state_dict, may_miss=counters)
    cfg.freeze()
    checkpoint = converted_checkpoint(
        model_state=model.state_dict(), config_yaml=cfg.dump(), layout=layout, source="tensorflow", origin=graph_path
    )
    logger.info("tensorflow: placed %d tensors from %s (%s, %d classes, %d default boxes); %d BatchNorm "
                "counters left at 0", len(conversion.state_dict), graph_path,
                "SSDLite" if spec.depthwise else "SSD", spec.num_classes, model.box_head.priors.shape[0], len(counters))
    return model, checkpoint
