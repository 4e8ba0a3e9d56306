"""ONNX Runtime backend: an exported detector behind the call contract of the PyTorch model in eval mode.

``OnnxRuntimeDetector(path)(images)`` takes ``images`` ``Tensor[B, 3, S, S]`` RGB 0-255 (the
test loader's batches, the predictor's resize; uint8, or float32 for a graph exported with the
``tf_bilinear`` resize, whose ``.resize_mode`` says so) and returns per image
``{"boxes": Tensor[D, 4] xyxy input pixels, "scores": Tensor[D], "labels": Tensor[D] int64 1..K}``
on the CPU, sorted by decreasing score, exactly as ``SSDDetector.eval()(images)`` does. A full graph
does its own postprocess; a network-only graph (``--no-postprocess``) gets
:func:`ssd.modeling.postprocess.select_detections` with the settings stored in its metadata.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from ..data.class_layout import ClassLayout
from ..modeling.postprocess import select_detections
from .onnx import DETECTION_OUTPUTS, FORMAT, INPUT_NAME, NETWORK_OUTPUTS

logger = logging.getLogger(__name__)


def read_model_metadata(path: str) -> dict[str, str]:
    """``metadata_props`` of the ONNX file ``path`` (without loading the weights)."""
    model = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def available_providers() -> list[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


class OnnxRuntimeDetector(nn.Module):
    """An exported ``.onnx`` detector run by ONNX Runtime (an ``nn.Module`` without parameters, so
    ``.eval()``, ``.to(device)`` and the inference loop treat it like the PyTorch model).

    Args:
        path: an ONNX file written by :func:`ssd.export.export_detector` (``tools/export.py``).
        providers: ONNX Runtime execution providers, in order of preference (default: CPU).
        threads: intra-op threads (default: ``torch.get_num_threads()``, as PyTorch uses).
        spin: let idle worker threads spin-wait for the next operator (ONNX Runtime's own default).
            Off here: spinning threads hold the cores, which slows PyTorch work between calls and a
            second session beside this one; turn it on for a process that does nothing else.
    Attributes:
        image_size, class_layout (and its class_names, label_to_category_id), settings (test
        settings), postprocess_in_graph, quantization (``None`` for fp32), resize_mode (the
        test-time resize the graph was exported for, ``INPUT.RESIZE_MODE``; ``"opencv"`` when the
        file predates the ``ssd.input`` entry), float_input (the graph takes float32, not uint8).
    """

    def __init__(self, path: str, *, providers: Sequence[str] | None = None, threads: int | None = None,
                 spin: bool = False) -> None:
        super().__init__()
        import onnxruntime

        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX model not found: {path}")
        meta = read_model_metadata(path)
        if meta.get("ssd.format") != FORMAT:
            raise ValueError(f"{path} is not an exported ssd detector (metadata ssd.format = "
                             f"{meta.get('ssd.format')!r}, expected {FORMAT!r}); export it with tools/export.py")
        self.path = path
        self.image_size = int(meta["ssd.image_size"])
        mapping = json.loads(meta["ssd.label_to_category_id"]) if meta.get("ssd.label_to_category_id") else None
        self.class_layout = ClassLayout(list(json.loads(meta["ssd.class_names"])), mapping or None)
        self.settings = json.loads(meta["ssd.test"])
        self.postprocess_in_graph = meta["ssd.postprocess"] == "graph"
        self.quantization = json.loads(meta["ssd.quantization"]) if meta.get("ssd.quantization") else None
        self.config_yaml = meta.get("ssd.config", "")
        self.resize_mode = json.loads(meta["ssd.input"])["resize_mode"] if meta.get("ssd.input") else "opencv"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.providers = list(providers or ["CPUExecutionProvider"])
        self.session = onnxruntime.InferenceSession(path, sess_options=options, providers=self.providers)
        self.output_names = list(DETECTION_OUTPUTS if self.postprocess_in_graph else NETWORK_OUTPUTS)
        self.float_input = self.session.get_inputs()[0].type == "tensor(float)"
        super().train(False)  # an inference graph: born and kept in eval mode (inference_context restores it)

    @property
    def class_names(self) -> list[str]:
        return list(self.class_layout.class_names)

    @property
    def label_to_category_id(self) -> dict[int, int] | None:
        return self.class_layout.label_to_category_id

    def train(self, mode: bool = True) -> OnnxRuntimeDetector:
        if mode:
            raise ValueError(f"{self.path} is an exported inference graph: it cannot be trained")
        return super().train(False)

    def run(self, images: np.ndarray) -> list[np.ndarray]:
        """The raw graph outputs for ``images`` ``[B, 3, S, S]`` (uint8, or float32 when ``float_input``)."""
        return self.session.run(self.output_names, {INPUT_NAME: images})

    @torch.no_grad()
    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        s = self.image_size
        if images.dim() != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (s, s):
            raise ValueError(f"expected images of shape [B, 3, {s}, {s}], got {list(images.shape)}")
        if self.float_input:
            images = images.float()  # uint8 pixels convert exactly
        elif images.dtype != torch.uint8:
            # the graph's input is uint8; float 0-255 pixels that are whole numbers convert exactly
            rounded = images.round().clamp(0, 255)
            if not torch.equal(rounded, images):
                raise ValueError("the ONNX detector takes uint8 pixels (or floats holding whole 0-255 values)")
            images = rounded.to(torch.uint8)
        outputs = self.run(np.ascontiguousarray(images.cpu().numpy()))
        if self.postprocess_in_graph:
            boxes, scores, labels, counts = (torch.from_numpy(o) for o in outputs)
            return [{"boxes": boxes[i, :n], "scores": scores[i, :n], "labels": labels[i, :n]}
                    for i, n in enumerate(counts.tolist())]
        boxes, scores = (torch.from_numpy(o) for o in outputs)
        st = self.settings
        results = [select_detections(boxes[i], scores[i], score_threshold=st["score_threshold"],
                                     nms_threshold=st["nms_threshold"], topk_candidates=st["topk_candidates"],
                                     max_detections=st["max_detections"]) for i in range(boxes.shape[0])]
        if st.get("clip_after_nms"):  # files written before the key have no such setting
            for r in results:
                r["boxes"] = r["boxes"].clamp(0.0, float(self.image_size))
        return results
