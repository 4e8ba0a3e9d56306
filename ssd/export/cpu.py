"""The PyTorch CPU fast path for inference: conv-BN folding, ``channels_last`` and bf16 autocast.

:func:`prepare_for_cpu` returns a copy of an eval-mode detector with the same call contract
(``images`` ``Tensor[B, 3, S, S]`` RGB 0-255 -> per image ``{"boxes" [D, 4] xyxy input pixels,
"scores" [D], "labels" [D]}``). Folding is exact up to fp32 rounding; bf16 autocast runs the
convolutions in bfloat16 (AVX-512 BF16 / AMX CPUs; elsewhere it is slower, see :func:`cpu_has_bf16`)
and the postprocess in fp32. Which of ``channels_last`` / bf16 is faster depends on the
architecture: ``tools/benchmark.py`` measures both, per config.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

logger = logging.getLogger(__name__)


def cpu_has_bf16() -> bool:
    """Whether oneDNN has native bf16 kernels on this CPU (AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` in an ``nn.Sequential``
    (``Conv2dNormActivation`` and the plain blocks alike) into that convolution, in place; the
    BatchNorm becomes ``nn.Identity``. Returns the number folded."""
    folded = 0
    for parent in module.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for a, b in zip(names, names[1:], strict=False):
            conv, norm = parent._modules[a], parent._modules[b]
            if isinstance(conv, nn.Conv2d) and type(norm) is nn.BatchNorm2d and not norm.training:
                if norm.track_running_stats and norm.running_mean is not None:
                    parent._modules[a] = fuse_conv_bn_eval(conv, norm)
                    parent._modules[b] = nn.Identity()
                    folded += 1
    return folded


class CPUInference(nn.Module):
    """An eval-mode detector whose forward converts the input to ``channels_last`` and runs under
    bf16 autocast when asked. ``image_size`` is the detector's."""

    def __init__(self, detector: nn.Module, *, channels_last: bool, bf16: bool) -> None:
        super().__init__()
        self.detector = detector
        self.channels_last = channels_last
        self.bf16 = bf16
        self.image_size = detector.image_size

    def train(self, mode: bool = True) -> CPUInference:
        if mode:
            raise ValueError("a CPU inference copy (BatchNorm folded) cannot be trained; train the original model")
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.detector(images)


def prepare_for_cpu(detector: nn.Module, *, fold_bn: bool = True, channels_last: bool = False,
                    bf16: bool = False) -> CPUInference:
    """A copy of ``detector`` for CPU inference (the original is left as it is)."""
    model = copy.deepcopy(detector).eval()
    folded = fold_batchnorm(model) if fold_bn else 0
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if bf16 and not cpu_has_bf16():
        logger.warning("this CPU has no native bf16 kernels: bf16 autocast will be slower than fp32")
    logger.info("CPU inference: %d BatchNorms folded, channels_last %s, bf16 %s", folded, channels_last, bf16)
    return CPUInference(model, channels_last=channels_last, bf16=bf16)
