"""ONNX export of a detector: uint8 images in, detections out, runnable with onnxruntime alone.

Two graphs share one network part, exported from PyTorch (legacy TorchScript exporter, opset 17):

* ``images`` uint8 ``[B, 3, S, S]`` RGB 0-255 -> ``decoded_boxes`` float32 ``[B, P, 4]`` (xyxy input
  pixels, the default boxes baked in as constants, clipped to the input when ``TEST.CLIP_BOXES``)
  and ``class_scores`` float32 ``[B, P, K]`` (foreground scores, class ``c`` in column ``c - 1``):
  the ``--no-postprocess`` graph, for runtimes without ``NonMaxSuppression``.
* the full graph appends the postprocess of :func:`ssd.modeling.postprocess.select_detections` in
  ONNX operators: per class the ``topk_candidates`` best priors (``TopK`` + ``ScatterElements``),
  ``NonMaxSuppression`` per class with the score threshold, then the ``max_detections`` best over
  all classes (``TopK``). Outputs ``boxes [B, D, 4]`` xyxy input pixels, ``scores [B, D]``,
  ``labels [B, D]`` int64 (1..K) and ``num_detections [B]`` int64; rows ``>= num_detections`` are
  padding (zeros, label 0) and ``D = min(max_detections, K * min(topk_candidates, P))``.

Metadata (``metadata_props``, all strings; JSON where structured) is listed in :data:`METADATA_KEYS`.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from typing import Any

import onnx
import torch
from onnx import TensorProto, helper
from torch import Tensor, nn
from torchvision.ops import clip_boxes_to_image

from ..modeling.postprocess import class_scores

logger = logging.getLogger(__name__)

OPSET = 17
FORMAT = "ssd-onnx/1"
INPUT_NAME = "images"
NETWORK_OUTPUTS = ("decoded_boxes", "class_scores")
DETECTION_OUTPUTS = ("boxes", "scores", "labels", "num_detections")
METADATA_KEYS = {
    "ssd.format": "format version, " + FORMAT,
    "ssd.postprocess": '"graph" (NMS in the graph, DETECTION_OUTPUTS) or "none" (NETWORK_OUTPUTS)',
    "ssd.image_size": "S of the uint8 [B, 3, S, S] RGB input",
    "ssd.class_names": "JSON list of foreground names; label l is class_names[l - 1]",
    "ssd.test": "JSON of the test settings: score_threshold, nms_threshold, topk_candidates, "
                "max_detections, activation, clip_boxes",
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
            "activation": p.activation, "clip_boxes": bool(p.clip_boxes)}


def export_network(detector: nn.Module, *, opset: int = OPSET) -> onnx.ModelProto:
    """The network graph of ``detector`` (``images -> decoded_boxes, class_scores``), batch dynamic."""
    was_training = detector.training
    detector.eval()
    size = detector.image_size
    example = torch.zeros(2, 3, size, size, dtype=torch.uint8)
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
    return onnx.load_from_string(buffer.getvalue())


def _const(name: str, values: Sequence[int | float], dtype: int) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, [len(values)], values))


def append_postprocess(
    network: onnx.ModelProto,
    *,
    num_priors: int,
    num_classes: int,
    score_threshold: float,
    nms_threshold: float,
    topk_candidates: int,
    max_detections: int,
) -> onnx.ModelProto:
    """``network`` (outputs ``decoded_boxes [B, P, 4]``, ``class_scores [B, P, K]``) with the
    postprocess appended; outputs :data:`DETECTION_OUTPUTS`. ``num_classes`` is ``K``, background
    excluded. Equal to :func:`ssd.modeling.postprocess.select_detections` per image (ties aside)."""
    if score_threshold < 0:
        raise ValueError(f"score_threshold = {score_threshold}: the exported postprocess needs a threshold >= 0")
    k = min(topk_candidates, num_priors)
    d = min(max_detections, num_classes * k)
    boxes, scores = NETWORK_OUTPUTS
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    nodes = [
        _const("pp_k", [k], i64), _const("pp_d", [d], i64), _const("pp_iou", [nms_threshold], f),
        _const("pp_score_threshold", [score_threshold], f), _const("pp_num_priors", [num_priors], i64),
        _const("pp_one", [1], i64), _const("pp_four", [4], i64), _const("pp_flat_shape", [0, -1], i64),
        _const("pp_zero_f", [0.0], f), _const("pp_zero_i", [0], i64), _const("pp_sentinel", [-0.5], f),
        # scores per class: [B, K, P]
        helper.make_node("Transpose", [scores], ["pp_scores_kp"], perm=[0, 2, 1]),
        helper.make_node("Shape", ["pp_scores_kp"], ["pp_kp_shape"]),
        # -1 everywhere but at each class's k best priors: those are its NMS candidates
        helper.make_node("ConstantOfShape", ["pp_kp_shape"], ["pp_minus_one"],
                         value=helper.make_tensor("v", f, [1], [-1.0])),
        helper.make_node("TopK", ["pp_scores_kp", "pp_k"], ["pp_top_scores", "pp_top_priors"], axis=2),
        helper.make_node("ScatterElements", ["pp_minus_one", "pp_top_priors", "pp_top_scores"], ["pp_candidates"],
                         axis=2),
        # per image and class, greedy NMS over candidates scoring above the threshold -> [M, 3] (b, c, p)
        helper.make_node("NonMaxSuppression", [boxes, "pp_candidates", "pp_k", "pp_iou", "pp_score_threshold"],
                         ["pp_selected"], center_point_box=0),
        helper.make_node("GatherND", ["pp_candidates", "pp_selected"], ["pp_selected_scores"]),
        helper.make_node("ScatterND", ["pp_minus_one", "pp_selected", "pp_selected_scores"], ["pp_kept"]),
        # the d best kept (class, prior) pairs of every image, by score
        helper.make_node("Reshape", ["pp_kept", "pp_flat_shape"], ["pp_kept_flat"]),
        helper.make_node("TopK", ["pp_kept_flat", "pp_d"], ["pp_det_scores", "pp_det_index"], axis=1),
        helper.make_node("Div", ["pp_det_index", "pp_num_priors"], ["pp_det_class"]),
        helper.make_node("Mod", ["pp_det_index", "pp_num_priors"], ["pp_det_prior"]),
        helper.make_node("Add", ["pp_det_class", "pp_one"], ["pp_det_label"]),
        helper.make_node("Unsqueeze", ["pp_det_prior", "pp_flat_shape_axis"], ["pp_det_prior_3d"]),
        helper.make_node("Shape", ["pp_det_prior"], ["pp_bd_shape"]),
        helper.make_node("Concat", ["pp_bd_shape", "pp_four"], ["pp_bd4_shape"], axis=0),
        helper.make_node("Expand", ["pp_det_prior_3d", "pp_bd4_shape"], ["pp_det_prior_4"]),
        helper.make_node("GatherElements", [boxes, "pp_det_prior_4"], ["pp_det_boxes"], axis=1),
        # rows past the kept detections hold the -1 sentinel: zero them and count the rest
        helper.make_node("Greater", ["pp_det_scores", "pp_sentinel"], ["pp_valid"]),
        helper.make_node("Unsqueeze", ["pp_valid", "pp_flat_shape_axis"], ["pp_valid_3d"]),
        helper.make_node("Where", ["pp_valid_3d", "pp_det_boxes", "pp_zero_f"], [DETECTION_OUTPUTS[0]]),
        helper.make_node("Where", ["pp_valid", "pp_det_scores", "pp_zero_f"], [DETECTION_OUTPUTS[1]]),
        helper.make_node("Where", ["pp_valid", "pp_det_label", "pp_zero_i"], [DETECTION_OUTPUTS[2]]),
        helper.make_node("Cast", ["pp_valid"], ["pp_valid_i"], to=i64),
        helper.make_node("ReduceSum", ["pp_valid_i", "pp_one"], [DETECTION_OUTPUTS[3]], keepdims=0),
    ]
    nodes.insert(0, _const("pp_flat_shape_axis", [2], i64))
    model = onnx.ModelProto()
    model.CopyFrom(network)
    graph = model.graph
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info(DETECTION_OUTPUTS[0], f, ["batch", d, 4]),
        helper.make_tensor_value_info(DETECTION_OUTPUTS[1], f, ["batch", d]),
        helper.make_tensor_value_info(DETECTION_OUTPUTS[2], i64, ["batch", d]),
        helper.make_tensor_value_info(DETECTION_OUTPUTS[3], i64, ["batch"]),
    ])
    return model


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
    class_names: Sequence[str],
    config_yaml: str = "",
    label_to_category_id: dict[int, int] | None = None,
    postprocess: bool = True,
    network: onnx.ModelProto | None = None,
    quantization: dict[str, Any] | None = None,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """The ONNX model of ``detector`` (an :class:`ssd.modeling.SSDDetector`), checked with
    ``onnx.checker``. ``network`` replaces the exported network part (its int8 version, described
    by ``quantization``); ``postprocess=False`` gives the network-only graph."""
    settings = postprocess_settings(detector)
    head = detector.box_head
    num_priors = int(head.priors.shape[0])
    num_classes = int(head.predictor.num_classes) - 1
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {num_classes} foreground classes")
    model = network if network is not None else export_network(detector, opset=opset)
    if postprocess:
        model = append_postprocess(
            model, num_priors=num_priors, num_classes=num_classes,
            score_threshold=settings["score_threshold"], nms_threshold=settings["nms_threshold"],
            topk_candidates=settings["topk_candidates"], max_detections=settings["max_detections"],
        )
    metadata = {
        "ssd.format": FORMAT,
        "ssd.postprocess": "graph" if postprocess else "none",
        "ssd.image_size": str(int(detector.image_size)),
        "ssd.class_names": json.dumps(list(class_names)),
        "ssd.test": json.dumps(settings),
        "ssd.config": config_yaml,
    }
    if label_to_category_id:
        metadata["ssd.label_to_category_id"] = json.dumps({str(k): int(v) for k, v in label_to_category_id.items()})
    if quantization:
        metadata["ssd.quantization"] = json.dumps(quantization)
    set_metadata(model, metadata)
    model.producer_name = "ssd"
    onnx.checker.check_model(model, full_check=True)
    logger.info("exported %s graph: %d priors, %d classes, opset %d",
                "full" if postprocess else "network-only", num_priors, num_classes, opset)
    return model
