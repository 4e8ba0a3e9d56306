"""TensorFlow object-detection API SSD / SSDLite MobileNetV2 graphs (``frozen_inference_graph.pb``)
-> this framework.

The GraphDef is read with the protobuf classes tensorboard ships (TensorFlow is not needed). The
architecture is read off the graph, never assumed:

- backbone: ``FeatureExtractor/MobilenetV2/*`` (anything else is refused, naming what was found);
  ``expanded_conv[_N]`` is torchvision's ``features[N + 1]``, ``Conv`` / ``Conv_1`` its
  ``features[0]`` / ``features[18]``; the first head level taps the expansion of ``expanded_conv_13``
  (``features[14]``, 576 channels), the second ``Conv_1`` (1280): this framework's ``paper`` taps;
- extras ``layer_19_1_Conv2d_K_1x1_M`` (1x1 to ``M``) then ``layer_19_2_Conv2d_K_3x3_s2_N``
  (``_depthwise`` + 1x1 to ``N`` for SSDLite, a 3x3 conv otherwise): the ``ssdlite_extras`` /
  ``ssd_extras`` neck;
- predictors ``BoxPredictor_L/{BoxEncodingPredictor,ClassPredictor}`` (``_depthwise`` + 1x1 for
  SSDLite, one 3x3 conv otherwise): boxes per cell and classes from their output channels;
- input size, the ``Preprocessor`` resize (``ResizeBilinear`` without ``align_corners`` or
  half-pixel centres: ``INPUT.RESIZE_MODE tf_bilinear``; any other is refused),
  ``Preprocessor/mul`` and ``sub`` (``x * 2/255 - 1``), the ``MultipleGridAnchorGenerator``
  constants (scales and ratios of every box), the box decoder's scales (10, 10, 5, 5, in ``y, x, h,
  w`` order), the score conversion (Sigmoid) and the NMS constants (IoU, score threshold, boxes per
  class).

Every variable of the graph (``weights``, ``depthwise_weights``, ``biases`` and BatchNorm's four) is
placed or reported; TF convolutions are HWIO (depthwise HWC1) and become OIHW (C1HW). TensorFlow's
channel layout of the predictors (``a * K + k``) is this framework's, so nothing is reordered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..modeling.anchors import multiple_grid_box_specs

_VARIABLE = re.compile(r"/(weights|depthwise_weights|biases|BatchNorm/(gamma|beta|moving_mean|moving_variance))$")
_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
_FE = "FeatureExtractor/MobilenetV2/"


@dataclass
class TFGraph:
    """What the converter needs of a GraphDef: ``consts`` (name -> array, every ``Const`` node) and
    ``nodes`` (name -> ``(op, inputs, attrs)``), in graph order."""

    consts: dict[str, np.ndarray]
    nodes: dict[str, tuple[str, list[str], dict[str, Any]]]


def read_graph(path: str) -> TFGraph:
    """Parse ``frozen_inference_graph.pb``; ``ValueError`` naming the file when it is not a GraphDef."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import graph_pb2
    from tensorboard.util import tensor_util

    graph = graph_pb2.GraphDef()
    try:
        with open(path, "rb") as f:
            graph.ParseFromString(f.read())
    except (OSError, DecodeError) as e:
        raise ValueError(f"{path}: not a readable TensorFlow GraphDef ({e})") from e
    if not graph.node:
        raise ValueError(f"{path}: a GraphDef without nodes")
    consts, nodes = {}, {}
    for n in graph.node:
        if n.op == "Const":
            consts[n.name] = tensor_util.make_ndarray(n.attr["value"].tensor)
        attrs = {k: (v.s.decode() if v.s else list(v.list.i) or v.f or v.b) for k, v in n.attr.items()
                 if k in ("padding", "strides", "epsilon", "align_corners", "half_pixel_centers")}
        nodes[n.name] = (n.op, [i.split(":")[0].lstrip("^") for i in n.input], attrs)
    return TFGraph(consts=consts, nodes=nodes)


@dataclass
class TFModelSpec:
    """The architecture and settings a TF SSD graph describes, in this framework's config terms."""

    depthwise: bool  # SSDLite (depthwise extras and predictors) or SSD (3x3 convs)
    image_size: int
    num_classes: int  # background included
    boxes_per_level: list[int]
    extra_out: list[int]
    extra_mid: list[int]
    pixel_mean: float
    pixel_std: float
    min_scale: float
    max_scale: float
    aspect_ratios: list[list[float]]
    interpolated_ratio: float
    reduce_lowest: bool
    norm_eps: float
    center_variance: float
    size_variance: float
    score_activation: str
    nms_threshold: float
    score_threshold: float
    max_per_class: int
    resize_mode: str  # INPUT.RESIZE_MODE reproducing the graph's Preprocessor resize


def _const(graph: TFGraph, name: str) -> np.ndarray:
    if name not in graph.consts:
        raise ValueError(f"the graph has no constant {name!r}: not a TF object-detection API SSD graph?")
    return graph.consts[name]


def _first(graph: TFGraph, pattern: str) -> np.ndarray:
    rx = re.compile(pattern)
    for name, value in graph.consts.items():
        if rx.search(name):
            return value
    raise ValueError(f"the graph has no constant matching {pattern!r}")


def _refuse_other_architectures(graph: TFGraph) -> None:
    extractors = sorted({n.split("/")[1] for n in graph.nodes if n.startswith("FeatureExtractor/") and "/" in n})
    if not any(n.startswith(_FE) for n in graph.nodes):
        found = ", ".join(extractors) or "no FeatureExtractor/ scope"
        raise ValueError(
            f"only TF SSD / SSDLite MobileNetV2 graphs convert; this graph's feature extractor: {found}"
        )
    if not any(n.startswith("BoxPredictor_0/") for n in graph.nodes):
        raise ValueError(
            "the graph has no BoxPredictor_0/: not an SSD graph (weight-shared or FPN heads do not convert)"
        )
    if not any(n.startswith("MultipleGridAnchorGenerator/") for n in graph.nodes):
        raise ValueError("the graph has no MultipleGridAnchorGenerator/: only TF's ssd_anchor_generator converts")


def _anchor_specs(graph: TFGraph) -> list[list[tuple[float, float]]]:
    """``(scale, ratio)`` of every box, per level, from the generator's constants: the ratios feed a
    ``Sqrt``, the scales are divided by it (heights = scale / sqrt(ratio)), one pair per level."""
    levels = []
    for name, (op, inputs, _) in graph.nodes.items():
        if not name.startswith("MultipleGridAnchorGenerator/") or op != "RealDiv" or len(inputs) != 2:
            continue
        scales, sqrt = inputs
        is_sqrt = graph.nodes.get(sqrt, ("",))[0] == "Sqrt"
        if scales in graph.consts and is_sqrt and graph.nodes[sqrt][1][0] in graph.consts:
            ratios = graph.consts[graph.nodes[sqrt][1][0]].astype(np.float64)
            levels.append(list(zip(graph.consts[scales].astype(np.float64).tolist(), ratios.tolist(), strict=True)))
    if not levels:
        raise ValueError("no anchor scales / aspect ratios found under MultipleGridAnchorGenerator/")
    return levels


def _anchor_settings(specs: list[list[tuple[float, float]]]) -> dict[str, Any]:
    """Generator settings that reproduce ``specs`` (checked: refused when none does)."""
    reduce = len(specs[0]) == 3 and math.isclose(specs[0][0][0], 0.1, rel_tol=1e-5) and specs[0][0][1] == 1.0
    upper = specs[1] if len(specs) > 1 else specs[0]
    interpolated = len(upper) > 1 and not math.isclose(upper[-1][0], upper[0][0], rel_tol=1e-5)
    min_scale = specs[0][1][0] if reduce else specs[0][0][0]
    ratios = [[r for _, r in (level[:-1] if interpolated else level)] for level in specs]
    settings = {
        "min_scale": float(np.float32(min_scale)),
        "max_scale": float(np.float32(specs[-1][0][0])),
        "aspect_ratios": [[float(np.float32(r)) for r in level] for level in ratios],
        "interpolated_ratio": float(specs[1][-1][1]) if interpolated else 0.0,
        "reduce_lowest": reduce,
    }
    if reduce:
        settings["aspect_ratios"][0] = list(settings["aspect_ratios"][1])
    rebuilt = multiple_grid_box_specs(
        num_levels=len(specs), min_scale=settings["min_scale"], max_scale=settings["max_scale"],
        aspect_ratios=settings["aspect_ratios"], interpolated_scale_aspect_ratio=settings["interpolated_ratio"],
        reduce_boxes_in_lowest_layer=reduce,
    )
    flat = np.array([b for level in specs for b in level])
    if [len(x) for x in rebuilt] != [len(x) for x in specs] or not np.allclose(
        np.array([b for level in rebuilt for b in level]), flat, rtol=1e-5, atol=1e-6
    ):
        raise ValueError(f"the graph's anchors follow no multiple-grid rule this framework has: {specs}")
    return settings


def _resize_mode(graph: TFGraph) -> str:
    """INPUT.RESIZE_MODE of the graph's ``Preprocessor`` resize; ``ValueError`` naming the op and
    its attributes when this framework has no resize giving the same pixels."""
    resizes = [(n, op, attrs) for n, (op, _, attrs) in graph.nodes.items()
               if n.startswith("Preprocessor/") and op.startswith("Resize")]
    if len(resizes) != 1:
        raise ValueError(f"expected one Preprocessor resize node, found {[(n, op) for n, op, _ in resizes]}")
    name, op, attrs = resizes[0]
    # attributes absent from a TF1 graph take TF's defaults, both False
    align, half = bool(attrs.get("align_corners", False)), bool(attrs.get("half_pixel_centers", False))
    if op != "ResizeBilinear" or align or half:
        raise ValueError(f"{name}: {op} with align_corners={align}, half_pixel_centers={half}; only "
                         "ResizeBilinear without either (INPUT.RESIZE_MODE tf_bilinear) is implemented")
    return "tf_bilinear"


def describe_graph(graph: TFGraph) -> TFModelSpec:
    """Read the architecture and settings of a TF SSD MobileNetV2 graph; ``ValueError`` naming what
    was found when it is another architecture."""
    _refuse_other_architectures(graph)
    depthwise = "BoxPredictor_0/BoxEncodingPredictor_depthwise/depthwise_weights" in graph.consts
    levels = sorted({int(m.group(1)) for n in graph.consts if (m := re.match(r"BoxPredictor_(\d+)/", n))})
    boxes, classes = [], set()
    for lv in levels:
        reg = _const(graph, f"BoxPredictor_{lv}/BoxEncodingPredictor/weights")
        cls = _const(graph, f"BoxPredictor_{lv}/ClassPredictor/weights")
        kernel = reg.shape[0]
        if kernel != (1 if depthwise else 3):
            raise ValueError(f"BoxPredictor_{lv}: a {kernel}x{kernel} box conv, expected SSDLite 1x1 or SSD 3x3")
        boxes.append(reg.shape[-1] // 4)
        classes.add(cls.shape[-1] // boxes[-1])
    if len(classes) != 1:
        raise ValueError(f"the predictors disagree on the class count: {sorted(classes)}")
    extras = sorted(
        (int(m.group(1)), int(m.group(2)))
        for n in graph.consts
        if (m := re.match(_FE + r"layer_19_2_Conv2d_(\d+)_3x3_s2_(\d+)/weights$", n))
    )
    mids = []
    for k, _ in extras:
        mid = [v for n, v in graph.consts.items() if re.match(_FE + rf"layer_19_1_Conv2d_{k}_1x1_\d+/weights$", n)]
        if len(mid) != 1:
            raise ValueError(f"extra level {k}: expected one 1x1 conv layer_19_1_Conv2d_{k}_1x1_*, found {len(mid)}")
        mids.append(int(mid[0].shape[-1]))
    if len(levels) != 2 + len(extras):
        raise ValueError(f"{len(levels)} predictor levels but 2 backbone taps + {len(extras)} extra levels")
    anchors = _anchor_settings(_anchor_specs(graph))
    scale = float(_const(graph, "Preprocessor/mul/x"))
    offset = float(_const(graph, "Preprocessor/sub/y"))
    eps = {attrs.get("epsilon") for op, _, attrs in graph.nodes.values() if op.startswith("FusedBatchNorm")}
    if len(eps) != 1:
        raise ValueError(f"BatchNorm epsilons differ across the graph: {sorted(eps)}")
    decode = [float(_const(graph, f"Postprocessor/Decode/truediv{s}/y")) for s in ("", "_1", "_2", "_3")]
    if decode[0] != decode[1] or decode[2] != decode[3]:
        raise ValueError(f"box decoder scales {decode}: this framework needs equal y/x and h/w scales")
    conversions = {op for n, (op, _, _) in graph.nodes.items() if n == "Postprocessor/convert_scores"}
    if conversions != {"Sigmoid"}:
        raise ValueError(f"score conversion {sorted(conversions) or 'none'}: only Sigmoid graphs convert")
    return TFModelSpec(
        depthwise=depthwise,
        image_size=int(_const(graph, "MultipleGridAnchorGenerator/ToFloat/x")),
        num_classes=classes.pop(),
        boxes_per_level=boxes,
        extra_out=[c for _, c in extras],
        extra_mid=mids,
        pixel_mean=offset / scale,
        pixel_std=1.0 / scale,
        norm_eps=float(np.float32(eps.pop())),
        center_variance=1.0 / decode[0],
        size_variance=1.0 / decode[2],
        score_activation="sigmoid",
        nms_threshold=float(_first(graph, r"non_max_suppression/iou_threshold$")),
        score_threshold=float(_first(graph, r"non_max_suppression/score_threshold$")),
        max_per_class=int(_first(graph, r"MultiClassNonMaxSuppression/Minimum/x$")),
        resize_mode=_resize_mode(graph),
        **anchors,
    )


def _conv(array: np.ndarray, depthwise: bool) -> Tensor:
    """HWIO (TF conv) -> OIHW; HWC1 (TF depthwise, multiplier 1) -> C1HW."""
    return torch.from_numpy(np.ascontiguousarray(array.transpose((2, 3, 0, 1) if depthwise else (3, 2, 0, 1))))


def _bn_or_weight(scope: str, tf_name: str, target_conv: str, target_bn: str) -> str | None:
    m = re.match(re.escape(scope) + r"/(weights|depthwise_weights|biases|BatchNorm/(\w+))$", tf_name)
    if not m:
        return None
    if m.group(2):
        return f"{target_bn}.{_BN[m.group(2)]}" if m.group(2) in _BN else None
    return f"{target_conv}.{'bias' if m.group(1) == 'biases' else 'weight'}"


def tf_rename(name: str, *, depthwise: bool) -> str | None:
    """This framework's state-dict key of TF variable ``name`` (``None``: no place)."""
    m = re.match(_FE + r"(Conv|Conv_1)/(.+)$", name)
    if m:
        f = "backbone.features." + ("0" if m.group(1) == "Conv" else "18")
        return _bn_or_weight(_FE + m.group(1), name, f + ".0", f + ".1")
    m = re.match(_FE + r"expanded_conv(?:_(\d+))?/(expand|depthwise|project)/", name)
    if m:
        index = int(m.group(1) or 0) + 1
        scope = _FE + name[len(_FE):].split("/")[0] + "/" + m.group(2)
        f = f"backbone.features.{index}.conv."
        first = index == 1  # t = 1: no expansion, so the depthwise conv is conv.0
        conv, bn = {
            "expand": ("0.0", "0.1"),
            "depthwise": ("0.0", "0.1") if first else ("1.0", "1.1"),
            "project": ("1", "2") if first else ("2", "3"),
        }[m.group(2)]
        return _bn_or_weight(scope, name, f + conv, f + bn)
    m = re.match(_FE + r"layer_19_(1|2)_Conv2d_(\d+)_(\w+?)(_depthwise)?/", name)
    if m:
        block = f"neck.blocks.{int(m.group(2)) - 2}."
        scope = name.rsplit("/BatchNorm/", 1)[0] if "/BatchNorm/" in name else name.rsplit("/", 1)[0]
        if m.group(1) == "1":
            part = "0"
        elif depthwise:
            part = "1" if m.group(4) else "2"
        else:
            part = "1"
        return _bn_or_weight(scope, name, block + part + ".0", block + part + ".1")
    m = re.match(r"BoxPredictor_(\d+)/(BoxEncodingPredictor|ClassPredictor)(_depthwise)?/", name)
    if m:
        head = f"box_head.predictor.{'reg' if m.group(2) == 'BoxEncodingPredictor' else 'cls'}_heads.{m.group(1)}"
        scope = name.rsplit("/BatchNorm/", 1)[0] if "/BatchNorm/" in name else name.rsplit("/", 1)[0]
        if not depthwise:
            return _bn_or_weight(scope, name, head, head + ".bn")
        if m.group(3):
            return _bn_or_weight(scope, name, head + ".0.0", head + ".0.1")
        return _bn_or_weight(scope, name, head + ".1", head + ".1")
    return None


def tf_state_dict(graph: TFGraph) -> dict[str, Tensor]:
    """Every variable of the graph (its TF name -> a tensor in PyTorch layout)."""
    out = {}
    for name, value in graph.consts.items():
        if not _VARIABLE.search(name):
            continue
        array = value.astype(np.float32)
        if array.ndim == 4:
            out[name] = _conv(array, name.endswith("depthwise_weights"))
        else:
            out[name] = torch.from_numpy(np.ascontiguousarray(array))
    return out


def variables_outside_model(graph: TFGraph) -> list[str]:
    """Variables under scopes the converter does not read (they would silently change the output)."""
    scopes = (_FE, "BoxPredictor_")
    return [n for n in graph.consts if _VARIABLE.search(n) and not n.startswith(scopes)]


def batchnorm_counters(target_keys: Mapping[str, Any]) -> list[str]:
    """The model's BatchNorm ``num_batches_tracked`` buffers, which TF graphs have no counterpart of."""
    return [k for k in target_keys if k.endswith("num_batches_tracked")]


def tf_config(spec: TFModelSpec, cfg):
    """``cfg`` (a fresh config, mutable) set to the model ``spec`` describes; returns it. The keys are
    the framework's TF options (``MODEL.BACKBONE.PADDING`` / ``NECK.PADDING: tf_same``, ``MODEL.BOX_ORDER: yxhw``, the
    ``multiple_grid`` priors), nothing converter-specific."""
    levels = len(spec.boxes_per_level)
    m = cfg.MODEL
    m.NUM_CLASSES = spec.num_classes
    m.NORM_EPS = spec.norm_eps
    m.NORM_MOMENTUM = 0.03
    m.INIT = "normal"
    m.BACKBONE.PADDING = "tf_same"
    m.NECK.PADDING = "tf_same"
    m.BOX_ORDER = "yxhw"
    m.CENTER_VARIANCE = spec.center_variance
    m.SIZE_VARIANCE = spec.size_variance
    m.BACKBONE.NAME = "mobilenet_v2"
    m.BACKBONE.VARIANT = "paper"
    m.BACKBONE.WIDTH_MULT = 1.0
    m.NECK.NAME = "ssdlite_extras" if spec.depthwise else "ssd_extras"
    m.NECK.USE_BN = not spec.depthwise
    m.NECK.ACTIVATION = "relu6"
    m.NECK.OUT_CHANNELS = list(spec.extra_out)
    m.NECK.MID_CHANNELS = list(spec.extra_mid)
    m.NECK.STRIDES = [2] * len(spec.extra_out)
    m.NECK.PADDINGS = [1] * len(spec.extra_out)
    m.NECK.KERNEL_SIZES = [3] * len(spec.extra_out)
    p = m.PRIORS
    p.GENERATOR = "multiple_grid"
    p.MIN_SIZES, p.MAX_SIZES, p.STRIDES = [], [], []
    p.FIRST_LEVEL_RATIO = 0.0
    p.MIN_RATIO = spec.min_scale
    p.MAX_RATIO = spec.max_scale
    p.ASPECT_RATIOS = [list(r) for r in spec.aspect_ratios]
    p.INTERPOLATED_SCALE_ASPECT_RATIO = spec.interpolated_ratio
    p.REDUCE_BOXES_IN_LOWEST_LAYER = spec.reduce_lowest
    p.CLIP = "none"
    m.BOX_HEAD.PREDICTOR = "ssdlite" if spec.depthwise else "ssd"
    m.BOX_HEAD.LOSS = "focal"  # declares sigmoid scores, as the graph's Postprocessor/convert_scores
    cfg.INPUT.IMAGE_SIZE = spec.image_size
    cfg.INPUT.PIXEL_MEAN = [spec.pixel_mean] * 3
    cfg.INPUT.PIXEL_STD = [spec.pixel_std] * 3
    cfg.INPUT.PIXEL_RANGE = 255.0
    cfg.INPUT.AUGMENTATION = "ssdlite"
    cfg.INPUT.RESIZE_MODE = spec.resize_mode  # test time only: training keeps its cv2 augmentation
    t = cfg.TEST
    t.CONFIDENCE_THRESHOLD = spec.score_threshold
    t.NMS_THRESHOLD = spec.nms_threshold
    t.TOPK_CANDIDATES = 100_000  # TF runs NMS on every box above the threshold
    t.MAX_PER_IMAGE = spec.max_per_class
    t.CLIP_BOXES = False  # TF's MultiClassNonMaxSuppression runs NMS on the unclipped boxes,
    t.CLIP_AFTER_NMS = True  # then clips what it keeps to the image window
    if len(p.ASPECT_RATIOS) != levels:
        raise ValueError(f"{levels} predictor levels but anchors for {len(p.ASPECT_RATIOS)}")
    return cfg
