"""int8 static post-training quantisation of the exported network (ONNX Runtime, QDQ format).

Only the network graph (``images -> decoded_boxes, class_scores``) is quantised; the postprocess
(TopK, NonMaxSuppression, ...) is appended afterwards in fp32, so the thresholds mean what they
meant. Activation ranges are calibrated on images that went through the project's test transform
(the test-time resize), exactly what the model sees at inference.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from collections.abc import Sequence

import numpy as np
import onnx
import torch

from .onnx import INPUT_NAME, NETWORK_OUTPUTS

logger = logging.getLogger(__name__)

# Activation ranges from the 99.999th percentile of the calibration values, int8 weights per output
# channel, uint8 activations (QDQ, which ONNX Runtime's CPU provider fuses into u8s8 QLinearConv /
# VNNI kernels; with int8 activations many convolutions stay unfused, float convolutions between
# (de)quantisations, its optimiser having turned some of them into uint8).
# Percentile, not MinMax: MinMax ranges, stretched by a few outlier activations, lost more AP (README).
DEFAULT_METHOD = "percentile"
ALL_OPS = ("Conv", "MatMul", "Gemm", "Add", "Mul", "Relu", "Clip", "HardSwish", "HardSigmoid", "GlobalAveragePool",
           "MaxPool", "Concat", "Reshape", "Transpose", "Sigmoid")
CONV_ONLY = ("Conv",)
# Calibration images whose activations are held at once: ONNX Runtime's calibrator otherwise keeps
# every activation of every image until the end, so memory grows with the image count.
CALIBRATION_CHUNK = 16


def calibration_images(dataset, count: int) -> list[np.ndarray]:
    """``count`` images (evenly spaced over ``dataset``, deterministic) as ``[1, 3, S, S]`` arrays of
    the network's input dtype: uint8, float32 for the ``tf_bilinear`` resize (kept unrounded, as the
    graph then takes them). ``dataset`` must carry the test transform (``build_dataset(...,
    is_train=False)``) of the config the network was exported from."""
    if count < 1:
        raise ValueError(f"--calib-images {count}: need at least one calibration image")
    if len(dataset) == 0:
        raise ValueError("the calibration dataset is empty")
    indices = np.linspace(0, len(dataset) - 1, num=min(count, len(dataset))).round().astype(int)
    images = []
    for i in dict.fromkeys(indices.tolist()):
        image = dataset[i][0]
        if image.dtype != torch.uint8:
            image = image.float()
        images.append(image[None].numpy())
    return images


class _Reader:
    """``onnxruntime.quantization.CalibrationDataReader``: one ``{images: [1, 3, S, S]}`` at a time,
    over the range ``set_range`` selects (ONNX Runtime's strided calibration, one chunk per range)."""

    def __init__(self, images: Sequence[np.ndarray]) -> None:
        self._images = list(images)
        self.set_range(0, len(self._images))

    def __len__(self) -> int:
        return len(self._images)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(self._images[start_index:end_index])

    def get_next(self):
        image = next(self._iter, None)
        return None if image is None else {INPUT_NAME: image}


def calibration_chunk(count: int, limit: int) -> int:
    """The largest divisor of ``count`` that is at most ``limit``: the chunk size of a strided
    calibration over ``count`` images (ONNX Runtime needs equal chunks)."""
    return max(d for d in range(1, min(count, limit) + 1) if count % d == 0)


def quantize_network(
    network: onnx.ModelProto,
    images: Sequence[np.ndarray],
    *,
    method: str = DEFAULT_METHOD,
    per_channel: bool = True,
    float_head: bool = False,
    op_types: Sequence[str] = ALL_OPS,
    chunk: int = CALIBRATION_CHUNK,
) -> onnx.ModelProto:
    """The int8 (QDQ) version of ``network`` (the graph of :func:`ssd.export.onnx.export_network`),
    activation ranges calibrated on ``images`` (``[1, 3, S, S]`` each, of the graph's input dtype).
    The float outputs (``decoded_boxes``, ``class_scores``) stay float: the ops computing them from
    the last convolutions (softmax, decode, clip) are left in fp32; ``float_head`` keeps those last
    (predictor) convolutions in fp32 too. ``op_types`` are the operators given int8 inputs
    (:data:`CONV_ONLY`: only convolutions, everything between them in fp32). Calibration runs over
    chunks of at most ``chunk`` images, the ranges (or histograms) accumulated chunk by chunk."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ValueError(f"calibration method {method!r}; expected one of {sorted(methods)}")
    if not images:
        raise ValueError("no calibration images")
    with tempfile.TemporaryDirectory(prefix="ssd_int8_") as tmp:
        raw, prepared, out = (os.path.join(tmp, n) for n in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(network, raw)
        quant_pre_process(raw, prepared, skip_symbolic_shape=True)
        # the calibrator print()s its progress ("Collecting tensor data and making histogram ...",
        # "Number of tensors : 273", ...) between the tool's own log lines: kept out of the console
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                prepared, out, _Reader(images), quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(op_types),
                per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                nodes_to_exclude=_float_tail(network, include_convs=float_head),
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                               "CalibStridedMinMax": calibration_chunk(len(images), chunk)},
            )
        quantized = onnx.load(out)
    logger.info("quantised the network to int8 (QDQ, %s calibration on %d images)", method, len(images))
    return quantized


def _float_tail(network: onnx.ModelProto, *, include_convs: bool = False) -> list[str]:
    """Nodes after the last convolutions (from the flattening of the head outputs to the float
    outputs), and those convolutions with ``include_convs``: kept in fp32 so boxes and scores are
    not rounded to 256 levels."""
    producers = {o: n for n in network.graph.node for o in n.output}
    tail: list[str] = []
    stack = list(NETWORK_OUTPUTS)
    seen: set[str] = set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            if include_convs:
                tail.append(node.name)
            continue
        tail.append(node.name)
        stack.extend(node.input)
    return tail
