"""One factory for the inference backends the tools offer (``--backend`` of ``ssd test`` and
``ssd demo``): the choice is made here, the tools only pass what they have."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

BACKENDS = ("torch", "onnxruntime")


def inference_backend(
    name: str,
    *,
    detector: nn.Module | None = None,
    onnx: str | None = None,
    providers: Sequence[str] | None = None,
    fold_bn: bool = False,
    channels_last: bool = False,
    bf16: bool = False,
) -> nn.Module:
    """An eval-mode callable with the detector's contract (``images [B, 3, S, S]`` uint8 RGB ->
    per image ``{"boxes" [D, 4] xyxy input pixels, "scores" [D], "labels" [D]}``, ``.image_size``).

    ``"torch"``: ``detector`` itself, or its CPU fast-path copy when ``fold_bn`` / ``channels_last``
    / ``bf16`` is set; ``"onnxruntime"``: the ``onnx`` file in ONNX Runtime (``providers``).
    """
    if name == "torch":
        if detector is None:
            raise ValueError("backend 'torch' needs the detector (--ckpt PATH_OR_URL)")
        if fold_bn or channels_last or bf16:
            from .cpu import prepare_for_cpu

            return prepare_for_cpu(detector, fold_bn=fold_bn, channels_last=channels_last, bf16=bf16)
        return detector.eval()
    if name == "onnxruntime":
        if not onnx:
            raise ValueError("backend 'onnxruntime' needs an ONNX file (--onnx FILE, written by tools/export.py)")
        from .runtime import OnnxRuntimeDetector

        return OnnxRuntimeDetector(onnx, providers=providers)
    raise ValueError(f"backend {name!r}; expected one of {list(BACKENDS)}")
