"""ONNX export of a detector: images in, detections out, runnable with onnxruntime alone.

Two graphs share one network part, exported from PyTorch (legacy TorchScript exporter, opset 17):

* ``images`` ``[B, 3, S, S]`` RGB 0-255 -> ``decoded_boxes`` float32 ``[B, P, 4]`` (xyxy input
  pixels, the default boxes baked in as constants, clipped to the input when ``TEST.CLIP_BOXES``)
  and ``class_scores`` float32 ``[B, P, K]`` (foreground scores, class ``c`` in column ``c - 1``):
  the ``--no-postprocess`` graph, for runtimes without ``NonMaxSuppression``.
* the full graph appends the postprocess of :func:`ssd.modeling.postprocess.select_detections` in
  ONNX operators (torchvision's semantics: per class the ``topk_candidates`` best priors above the
  score threshold, NMS per class, the ``max_detections`` best over all classes), computed from the
  image's ``4 * max_detections`` best (prior, class) pairs when they provably hold the answer, else
  in torchvision's order of work, class by class (an ``If``): see :func:`append_postprocess`.
  Outputs ``boxes [B, D, 4]`` xyxy input pixels, ``scores [B, D]``, ``labels [B, D]`` int64 (1..K)
  and ``num_detections [B]`` int64; rows ``>= num_detections`` are padding (zeros, label 0) and
  ``D = min(max_detections, K * min(topk_candidates, P))``.

The input is what the model's test-time resize gives (``INPUT.RESIZE_MODE``,
:data:`ssd.data.transforms.RESIZE_DTYPES`): uint8 for ``"opencv"``, float32 for ``"tf_bilinear"``,
whose unrounded pixels are part of matching TensorFlow (rounding them moves scores by 3e-3).

Metadata (``metadata_props``, all strings; JSON where structured) is listed in :data:`METADATA_KEYS`.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import Tensor, nn
from torchvision.ops import clip_boxes_to_image

from ..config.choices import RESIZE_MODES
from ..data.class_layout import ClassLayout
from ..data.transforms import RESIZE_DTYPES
from ..modeling.postprocess import class_scores

logger = logging.getLogger(__name__)

OPSET = 17
# Pairs of the global selection per detection: enough that even an untrained model's scores take
# the fast path, with a margin, so the class-by-class fallback stays for the scores it was made
# for (the counts behind 4: docs/benchmarks.md (Measurement notes)).
GLOBAL_CANDIDATES_PER_DETECTION = 4
FORMAT = "ssd-onnx/1"
INPUT_NAME = "images"
NETWORK_OUTPUTS = ("decoded_boxes", "class_scores")
DETECTION_OUTPUTS = ("boxes", "scores", "labels", "num_detections")
METADATA_KEYS = {
    "ssd.format": "format version, " + FORMAT,
    "ssd.postprocess": '"graph" (NMS in the graph, DETECTION_OUTPUTS) or "none" (NETWORK_OUTPUTS)',
    "ssd.image_size": "S of the [B, 3, S, S] RGB 0-255 input (uint8, or float32 for the tf_bilinear resize)",
    "ssd.input": 'JSON of the input processing: {"resize_mode": INPUT.RESIZE_MODE}, the test-time resize '
                 'that makes the input from a photo; absent in older files, which mean "opencv"',
    "ssd.class_names": "JSON list of foreground names; label l is class_names[l - 1]",
    "ssd.test": "JSON of the test settings: score_threshold, nms_threshold, topk_candidates, "
                "max_detections, activation, clip_boxes, clip_after_nms",
    "ssd.label_to_category_id": "JSON {label: COCO category id} when the checkpoint has its own layout, else absent",
    "ssd.config": "the resolved config (YAML) the model was built from",
    "ssd.quantization": "absent for fp32; JSON description of the int8 quantisation",
}


class DecodedNetwork(nn.Module):
    """``images`` uint8 ``[B, 3, S, S]`` -> ``(decoded_boxes [B, P, 4], class_scores [B, P, K])``: the
    detector up to (not including) candidate selection and NMS, as ``postprocess_detections``
    computes it."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        head = self.detector.box_head
        cls_logits, box_deltas = head.predictor(self.detector.features(images))
        scores = class_scores(cls_logits, head.postprocess.activation)
        boxes = head.box_coder.decode(box_deltas.float(), head.priors)
        if head.postprocess.clip_boxes:
            boxes = clip_boxes_to_image(boxes, head.image_size)
        return boxes, scores


def postprocess_settings(detector: nn.Module) -> dict[str, Any]:
    """The postprocess settings of ``detector`` (its box head's ``TEST.*`` values) as a plain dict."""
    p = detector.box_head.postprocess
    return {"score_threshold": float(p.score_threshold), "nms_threshold": float(p.nms_threshold),
            "topk_candidates": int(p.topk_candidates), "max_detections": int(p.max_detections),
            "activation": p.activation, "clip_boxes": bool(p.clip_boxes),
            "clip_after_nms": bool(getattr(p, "clip_after_nms", False))}


def _input_dtype(resize_mode: str) -> np.dtype:
    if resize_mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode = {resize_mode!r}; expected one of {list(RESIZE_MODES)}")
    return np.dtype(RESIZE_DTYPES[resize_mode])


def export_network(detector: nn.Module, *, opset: int = OPSET, resize_mode: str = "opencv") -> onnx.ModelProto:
    """The network graph of ``detector`` (``images -> decoded_boxes, class_scores``), batch dynamic;
    ``images`` of the dtype ``resize_mode``'s resize gives (uint8, or float32 for ``"tf_bilinear"``)."""
    was_training = detector.training
    detector.eval()
    size = detector.image_size
    example = torch.from_numpy(np.zeros((2, 3, size, size), dtype=_input_dtype(resize_mode)))
    buffer = io.BytesIO()
    try:
        with torch.no_grad():
            torch.onnx.export(
                DecodedNetwork(detector), (example,), buffer, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=list(NETWORK_OUTPUTS),
                dynamic_axes={INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in NETWORK_OUTPUTS}},
            )
    finally:
        detector.train(was_training)
    return fold_input_normalisation(onnx.load_from_string(buffer.getvalue()))


def fold_input_normalisation(model: onnx.ModelProto) -> onnx.ModelProto:
    """``Cast -> [Div(a)] -> Sub(mean) -> Div(std) -> Conv(W, b)`` at the input (the detector's
    normaliser, then the first convolution) -> ``Cast -> Sub(a * mean) -> Conv(W / (a * std), b)``.
    The same function, zero padding included (a padded zero of ``(x / a - mean) / std`` is one of
    ``x - a * mean``), with two passes over the image fewer. ``model`` is returned unchanged when
    its input does not start this way."""
    from onnx import numpy_helper

    graph = model.graph
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node
                 if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    initializers = {i.name: i for i in graph.initializer}

    def only_consumer(name: str, op_type: str) -> onnx.NodeProto | None:
        nodes = consumers.get(name, [])
        return nodes[0] if len(nodes) == 1 and nodes[0].op_type == op_type else None

    cast = only_consumer(INPUT_NAME, "Cast")
    div_a = cast and only_consumer(cast.output[0], "Div")  # absent for 0-255 models (Caffe's)
    sub = (div_a or cast) and only_consumer((div_a or cast).output[0], "Sub")
    div_s = sub and only_consumer(sub.output[0], "Div")
    conv = div_s and only_consumer(div_s.output[0], "Conv")
    if conv is None or any(at.name == "group" and at.i != 1 for at in conv.attribute):
        return model
    a = constants.get(div_a.input[1]) if div_a else np.float32(1.0)
    mean, std = constants.get(sub.input[1]), constants.get(div_s.input[1])
    weight = initializers.get(conv.input[1])
    if a is None or mean is None or std is None or weight is None or len(consumers[conv.input[1]]) != 1:
        return model
    w = numpy_helper.to_array(weight)
    scale = (a * std).reshape(-1)  # per input channel (or one value)
    if w.ndim != 4 or scale.size not in (1, w.shape[1]):
        return model
    weight.CopyFrom(numpy_helper.from_array((w / scale.reshape(1, -1, 1, 1)).astype(w.dtype), weight.name))
    orphans = {sub.input[1], div_s.input[1], *([div_a.input[1]] if div_a is not None else [])}
    shifted = f"{sub.input[1]}_times_divisor"
    graph.node.insert(list(graph.node).index(sub), helper.make_node(
        "Constant", [], [shifted], value=numpy_helper.from_array((a * mean).astype(mean.dtype), shifted)))
    sub.input[0], sub.input[1] = cast.output[0], shifted
    conv.input[0] = sub.output[0]
    if div_a is not None:
        graph.node.remove(div_a)
    graph.node.remove(div_s)
    used = {name for node in graph.node for name in node.input}
    for node in [n for n in graph.node if n.op_type == "Constant" and n.output[0] in orphans - used]:
        graph.node.remove(node)
    return model


def _const(name: str, values: Sequence[int | float], dtype: int, dims: Sequence[int] | None = None) -> onnx.NodeProto:
    dims = [len(values)] if dims is None else list(dims)
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))


def _detection_value_infos(names: Sequence[str], d: int) -> list[onnx.ValueInfoProto]:
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    return [helper.make_tensor_value_info(names[0], f, ["batch", d, 4]),
            helper.make_tensor_value_info(names[1], f, ["batch", d]),
            helper.make_tensor_value_info(names[2], i64, ["batch", d]),
            helper.make_tensor_value_info(names[3], i64, ["batch"])]


def _best_kept(p: str, candidates: str, selected: str, d: int) -> list[onnx.NodeProto]:
    """``candidates`` ``[B, N]`` scores (0 where not a candidate) and the NMS ``selected`` ``[M, 2]``
    (image, candidate) -> ``{p}det_scores`` and ``{p}det_pos`` ``[B, d]``: the ``d`` best kept
    candidates by decreasing score, then zero-score padding. Kept scores are above the threshold,
    itself >= 0, so a zero marks padding."""
    return [
        _const(f"{p}d", [d], TensorProto.INT64), _const(f"{p}kept_zero", [0.0], TensorProto.FLOAT, dims=[]),
        helper.make_node("GatherND", [candidates, selected], [f"{p}selected_scores"]),
        helper.make_node("Mul", [candidates, f"{p}kept_zero"], [f"{p}zeros"]),
        helper.make_node("ScatterND", [f"{p}zeros", selected, f"{p}selected_scores"], [f"{p}kept"]),
        helper.make_node("TopK", [f"{p}kept", f"{p}d"], [f"{p}det_scores", f"{p}det_pos"], axis=1),
    ]


def _padded_outputs(p: str, det_boxes: str, det_classes: str, outputs: Sequence[str]) -> list[onnx.NodeProto]:
    """``{p}det_scores`` ``[B, d]``, ``det_boxes`` ``[B, d, 4]`` and ``det_classes`` ``[B, d]``
    (label - 1) -> the ``outputs`` (boxes, scores, labels, count), padding rows zeroed."""
    i64 = TensorProto.INT64
    q = f"{p}pad_"
    return [
        _const(f"{q}axis1", [1], i64), _const(f"{q}axis2", [2], i64), _const(f"{q}one_i", [1], i64, []),
        _const(f"{q}zero_f", [0.0], TensorProto.FLOAT, []), _const(f"{q}zero_i", [0], i64, []),
        helper.make_node("Greater", [f"{p}det_scores", f"{q}zero_f"], [f"{q}valid"]),
        helper.make_node("Unsqueeze", [f"{q}valid", f"{q}axis2"], [f"{q}valid3"]),
        helper.make_node("Where", [f"{q}valid3", det_boxes, f"{q}zero_f"], [outputs[0]]),
        helper.make_node("Identity", [f"{p}det_scores"], [outputs[1]]),
        helper.make_node("Add", [det_classes, f"{q}one_i"], [f"{q}labels"]),
        helper.make_node("Where", [f"{q}valid", f"{q}labels", f"{q}zero_i"], [outputs[2]]),
        helper.make_node("Cast", [f"{q}valid"], [f"{q}valid_i"], to=i64),
        helper.make_node("ReduceSum", [f"{q}valid_i", f"{q}axis1"], [outputs[3]], keepdims=0),
    ]


def _gather_boxes(p: str, boxes: str, rows: str) -> list[onnx.NodeProto]:
    """``boxes`` ``[B, N, 4]`` and ``rows`` ``[B, M]`` int64 -> ``{p}boxes`` ``[B, M, 4]``."""
    return [_const(f"{p}rows_axis", [2], TensorProto.INT64),
            helper.make_node("Unsqueeze", [rows, f"{p}rows_axis"], [f"{p}rows3"]),
            helper.make_node("GatherND", [boxes, f"{p}rows3"], [f"{p}boxes"], batch_dims=1)]


def _per_class_nodes(outputs: Sequence[str], *, num_priors: int, k: int, d: int) -> list[onnx.NodeProto]:
    """torchvision's order of work: per class its ``k`` best priors (``TopK`` over the priors),
    ``NonMaxSuppression`` per class over them, then the ``d`` best kept over all classes. Exact for
    any scores, and as slow for a trained model as for an untrained one: ``TopK`` per class and NMS
    over every candidate, slower than the network itself."""
    boxes, scores = NETWORK_OUTPUTS
    i64 = TensorProto.INT64
    p = "pc_"
    return [
        _const(f"{p}k", [k], i64), _const(f"{p}flat_shape", [0, -1], i64),
        _const(f"{p}num_priors", [num_priors], i64, []), _const(f"{p}zero_f", [0.0], TensorProto.FLOAT, []),
        # scores per class [B, K, P]: zero everywhere but at each class's k best priors
        helper.make_node("Transpose", [scores], [f"{p}scores_kp"], perm=[0, 2, 1]),
        helper.make_node("TopK", [f"{p}scores_kp", f"{p}k"], [f"{p}top_scores", f"{p}top_priors"], axis=2),
        helper.make_node("Mul", [f"{p}scores_kp", f"{p}zero_f"], [f"{p}zeros_kp"]),
        helper.make_node("ScatterElements", [f"{p}zeros_kp", f"{p}top_priors", f"{p}top_scores"],
                         [f"{p}candidates_kp"], axis=2),
        # per image and class, greedy NMS over the candidates above the threshold -> [M, 3] (b, c, prior)
        helper.make_node("NonMaxSuppression", [boxes, f"{p}candidates_kp", f"{p}k", "pp_iou", "pp_score_threshold"],
                         [f"{p}selected_bcp"], center_point_box=0),
        # as positions c * P + prior of the flattened [B, K * P]
        _const(f"{p}bcp_to_bn", [1, 0, 0, num_priors, 0, 1], i64, dims=[3, 2]),
        helper.make_node("MatMul", [f"{p}selected_bcp", f"{p}bcp_to_bn"], [f"{p}selected"]),
        helper.make_node("Reshape", [f"{p}candidates_kp", f"{p}flat_shape"], [f"{p}candidates"]),
        *_best_kept(p, f"{p}candidates", f"{p}selected", d),
        helper.make_node("Div", [f"{p}det_pos", f"{p}num_priors"], [f"{p}det_classes"]),
        helper.make_node("Mod", [f"{p}det_pos", f"{p}num_priors"], [f"{p}det_priors"]),
        *_gather_boxes(f"{p}det_", boxes, f"{p}det_priors"),
        *_padded_outputs(p, f"{p}det_boxes", f"{p}det_classes", outputs),
    ]


def _global_nodes(outputs: Sequence[str], *, num_classes: int, k: int, d: int, g: int) -> list[onnx.NodeProto]:
    """The same detections from the ``g`` best (prior, class) pairs of each image.

    Per-class greedy NMS keeps a pair iff no kept pair of its class with a higher score overlaps it,
    so it depends only on the pairs scoring higher: NMS over the ``g`` best pairs of the image,
    each in its class's row, keeps exactly the pairs the full computation keeps among them, and
    these outscore every pair outside. A pair's rank within its class among the ``g`` best is its
    true rank, which applies the cap of ``k`` candidates per class. So the ``d`` best kept are the
    answer for an image where at least ``d`` pairs were kept or the ``g``-th score is at most the
    threshold (no pair outside could pass it): ``gl_complete`` ``[B]`` bool. The cost is that of a
    ``TopK`` over the ``P * K`` scores and an NMS over ``g`` boxes, whatever the scores."""
    boxes, scores = NETWORK_OUTPUTS
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    p = "gl_"
    return [
        _const(f"{p}g", [g], i64), _const(f"{p}d_max", [d], i64), _const(f"{p}flat_shape", [0, -1], i64),
        _const(f"{p}axis1", [1], i64), _const(f"{p}axis2", [2], i64),
        _const(f"{p}num_classes", [num_classes], i64, []), _const(f"{p}k_f", [float(k)], f, []),
        _const(f"{p}zero_f", [0.0], f, []),
        _const(f"{p}eye", [float(i == j) for i in range(num_classes) for j in range(num_classes)], f,
               dims=[num_classes, num_classes]),
        # the g best pairs, by decreasing score: pair n of [B, P * K] is prior n // K, class n % K
        helper.make_node("Reshape", [scores, f"{p}flat_shape"], [f"{p}flat"]),
        helper.make_node("TopK", [f"{p}flat", f"{p}g"], [f"{p}scores", f"{p}pairs"], axis=1),
        helper.make_node("Div", [f"{p}pairs", f"{p}num_classes"], [f"{p}priors"]),
        helper.make_node("Mod", [f"{p}pairs", f"{p}num_classes"], [f"{p}classes"]),
        # rank within the class (1 = best): the running count of the class's pairs; past k, no candidate
        helper.make_node("Gather", [f"{p}eye", f"{p}classes"], [f"{p}one_hot"]),
        helper.make_node("CumSum", [f"{p}one_hot", f"{p}axis1"], [f"{p}running"]),
        helper.make_node("Mul", [f"{p}running", f"{p}one_hot"], [f"{p}own_running"]),
        helper.make_node("ReduceSum", [f"{p}own_running", f"{p}axis2"], [f"{p}rank"], keepdims=0),
        helper.make_node("LessOrEqual", [f"{p}rank", f"{p}k_f"], [f"{p}in_top_k"]),
        helper.make_node("Where", [f"{p}in_top_k", f"{p}scores", f"{p}zero_f"], [f"{p}candidates"]),
        # NMS per class over [B, K, g]: a pair's score in its class's row, zero (below any threshold) elsewhere
        *_gather_boxes(f"{p}pair_", boxes, f"{p}priors"),
        helper.make_node("Transpose", [f"{p}one_hot"], [f"{p}class_mask"], perm=[0, 2, 1]),
        helper.make_node("Unsqueeze", [f"{p}candidates", f"{p}axis1"], [f"{p}candidates3"]),
        helper.make_node("Mul", [f"{p}class_mask", f"{p}candidates3"], [f"{p}class_candidates"]),
        helper.make_node("NonMaxSuppression", [f"{p}pair_boxes", f"{p}class_candidates", f"{p}d_max", "pp_iou",
                                               "pp_score_threshold"], [f"{p}selected3"], center_point_box=0),
        _const(f"{p}b_and_pair", [0, 2], i64),
        helper.make_node("Gather", [f"{p}selected3", f"{p}b_and_pair"], [f"{p}selected"], axis=1),
        *_best_kept(p, f"{p}candidates", f"{p}selected", d),
        helper.make_node("GatherElements", [f"{p}classes", f"{p}det_pos"], [f"{p}det_classes"], axis=1),
        *_gather_boxes(f"{p}det_", f"{p}pair_boxes", f"{p}det_pos"),
        *_padded_outputs(p, f"{p}det_boxes", f"{p}det_classes", outputs),
        # exact where d pairs were kept or no pair past the g-th passes the threshold
        helper.make_node("Equal", [outputs[3], f"{p}d_max"], [f"{p}full"]),
        helper.make_node("ReduceMin", [f"{p}scores"], [f"{p}last_score"], axes=[1], keepdims=0),
        helper.make_node("LessOrEqual", [f"{p}last_score", "pp_score_threshold"], [f"{p}exhausted"]),
        helper.make_node("Or", [f"{p}full", f"{p}exhausted"], [f"{p}complete"]),
    ]


def append_postprocess(
    network: onnx.ModelProto,
    *,
    num_priors: int,
    num_classes: int,
    score_threshold: float,
    nms_threshold: float,
    topk_candidates: int,
    max_detections: int,
    global_candidates: int | None = None,
) -> onnx.ModelProto:
    """``network`` (outputs ``decoded_boxes [B, P, 4]``, ``class_scores [B, P, K]``) with the
    postprocess appended; outputs :data:`DETECTION_OUTPUTS`. ``num_classes`` is ``K``, background
    excluded. Equal to :func:`ssd.modeling.postprocess.select_detections` per image (ties aside).

    The graph first selects from the ``global_candidates`` best (prior, class) pairs of each image in
    one pass (:func:`_global_nodes`; default :data:`GLOBAL_CANDIDATES_PER_DETECTION` ``* D``, ``0``
    skips it) and falls back (``If``) to torchvision's per-class order of work
    (:func:`_per_class_nodes`) for a batch with an image where those pairs do not provably hold the
    answer."""
    if score_threshold < 0:
        raise ValueError(f"score_threshold = {score_threshold}: the exported postprocess needs a threshold >= 0")
    k = min(topk_candidates, num_priors)
    d = min(max_detections, num_classes * k)
    pairs = num_priors * num_classes
    g = min(pairs, GLOBAL_CANDIDATES_PER_DETECTION * d if global_candidates is None else global_candidates)
    if 0 < g < d:
        raise ValueError(f"global_candidates = {g}: needs at least the {d} detections (or 0)")
    f = TensorProto.FLOAT
    nodes = [_const("pp_iou", [nms_threshold], f), _const("pp_score_threshold", [score_threshold], f)]
    if g == 0:
        nodes += _per_class_nodes(DETECTION_OUTPUTS, num_priors=num_priors, k=k, d=d)
    elif g == pairs:  # every pair considered: always exact
        nodes += _global_nodes(DETECTION_OUTPUTS, num_classes=num_classes, k=k, d=d, g=g)
    else:
        fast = [f"gl_out_{n}" for n in DETECTION_OUTPUTS]
        then_out = [f"global_{n}" for n in DETECTION_OUTPUTS]
        else_out = [f"per_class_{n}" for n in DETECTION_OUTPUTS]
        then_branch = helper.make_graph(
            [helper.make_node("Identity", [a], [b]) for a, b in zip(fast, then_out, strict=True)],
            "global_selection", [], _detection_value_infos(then_out, d))
        else_branch = helper.make_graph(_per_class_nodes(else_out, num_priors=num_priors, k=k, d=d),
                                        "per_class_selection", [], _detection_value_infos(else_out, d))
        nodes += [
            *_global_nodes(fast, num_classes=num_classes, k=k, d=d, g=g),
            helper.make_node("Cast", ["gl_complete"], ["pp_complete_i"], to=TensorProto.INT32),
            helper.make_node("ReduceMin", ["pp_complete_i"], ["pp_all_complete_i"], keepdims=0),
            helper.make_node("Cast", ["pp_all_complete_i"], ["pp_all_complete"], to=TensorProto.BOOL),
            helper.make_node("If", ["pp_all_complete"], list(DETECTION_OUTPUTS),
                             then_branch=then_branch, else_branch=else_branch),
        ]
    for node in nodes:  # named after their first output: readable in profiles and viewers
        node.name = node.name or f"postprocess/{node.output[0]}"
    model = onnx.ModelProto()
    model.CopyFrom(network)
    graph = model.graph
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend(_detection_value_infos(DETECTION_OUTPUTS, d))
    return model


def clip_detection_boxes(model: onnx.ModelProto, size: float) -> None:
    """Clip the ``boxes`` output of a full graph to ``[0, size]`` in place (``TEST.CLIP_AFTER_NMS``;
    square inputs, so one bound serves x and y; padding rows stay zero)."""
    graph = model.graph
    raw = "boxes_unclipped"
    for node in graph.node:
        node.input[:] = [raw if i == "boxes" else i for i in node.input]
        node.output[:] = [raw if o == "boxes" else o for o in node.output]
    graph.node.extend([
        _const("pp_clip_min", [0.0], TensorProto.FLOAT, []),
        _const("pp_clip_max", [size], TensorProto.FLOAT, []),
        helper.make_node("Clip", [raw, "pp_clip_min", "pp_clip_max"], ["boxes"], name="postprocess/clip_after_nms"),
    ])


def set_metadata(model: onnx.ModelProto, values: dict[str, str]) -> None:
    """Set ``metadata_props`` entries (replacing those of the same keys)."""
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def export_detector(
    detector: nn.Module,
    *,
    class_names: Sequence[str] | None = None,
    class_layout: ClassLayout | None = None,
    config_yaml: str = "",
    label_to_category_id: dict[int, int] | None = None,
    postprocess: bool = True,
    network: onnx.ModelProto | None = None,
    quantization: dict[str, Any] | None = None,
    opset: int = OPSET,
    resize_mode: str = "opencv",
) -> onnx.ModelProto:
    """The ONNX model of ``detector`` (an :class:`ssd.modeling.SSDDetector`), checked with
    ``onnx.checker``. ``network`` replaces the exported network part (its int8 version, described
    by ``quantization``; exported with the same ``resize_mode``); ``postprocess=False`` gives the
    network-only graph. ``resize_mode`` (``INPUT.RESIZE_MODE``) is stored for the runtime to resize
    photos the same way, and sets the input dtype."""
    settings = postprocess_settings(detector)
    head = detector.box_head
    num_priors = int(head.priors.shape[0])
    num_classes = int(head.predictor.num_classes) - 1
    if (class_names is None) == (class_layout is None):
        raise ValueError("pass one of class_names (with label_to_category_id) and class_layout")
    layout = class_layout or ClassLayout(list(class_names or []), label_to_category_id or None)
    if len(layout.class_names) != num_classes:
        raise ValueError(f"{len(layout.class_names)} class names for a model with {num_classes} foreground classes")
    model = network if network is not None else export_network(detector, opset=opset, resize_mode=resize_mode)
    expected = helper.np_dtype_to_tensor_dtype(_input_dtype(resize_mode))
    given = model.graph.input[0].type.tensor_type.elem_type
    if given != expected:
        raise ValueError(f"the network's input is {TensorProto.DataType.Name(given)} but resize_mode = "
                         f"{resize_mode!r} gives {TensorProto.DataType.Name(expected)}: export the network "
                         f"with export_network(..., resize_mode={resize_mode!r})")
    if postprocess:
        model = append_postprocess(
            model, num_priors=num_priors, num_classes=num_classes,
            score_threshold=settings["score_threshold"], nms_threshold=settings["nms_threshold"],
            topk_candidates=settings["topk_candidates"], max_detections=settings["max_detections"],
        )
        if settings["clip_after_nms"]:
            clip_detection_boxes(model, float(detector.image_size))
    metadata = {
        "ssd.format": FORMAT,
        "ssd.postprocess": "graph" if postprocess else "none",
        "ssd.image_size": str(int(detector.image_size)),
        "ssd.class_names": json.dumps(list(layout.class_names)),
        "ssd.test": json.dumps(settings),
        "ssd.input": json.dumps({"resize_mode": resize_mode}),
        "ssd.config": config_yaml,
    }
    if layout.label_to_category_id:
        metadata["ssd.label_to_category_id"] = json.dumps(
            {str(k): int(v) for k, v in layout.label_to_category_id.items()})
    if quantization:
        metadata["ssd.quantization"] = json.dumps(quantization)
    set_metadata(model, metadata)
    model.producer_name = "ssd"
    onnx.checker.check_model(model, full_check=True)
    logger.info("exported %s graph: %d priors, %d classes, opset %d",
                "full" if postprocess else "network-only", num_priors, num_classes, opset)
    return model
