"""Training numerics: which autocast dtype and memory format a run gets on its device.

bf16 autocast on a CPU needs native bf16 instructions (``avx512_bf16`` or AMX); without them
oneDNN emulates bf16 and a step is slower than float32, so the trainer says so and stays in fp32.
"""

from __future__ import annotations

import functools
import logging

import torch

from ..config.choices import CHANNELS_LAST_MODES

logger = logging.getLogger(__name__)

AMP_DTYPES = {"off": None, "fp16": torch.float16, "bf16": torch.bfloat16}
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@functools.cache
def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic: oneDNN says so
    (``torch.ops.mkldnn._is_mkldnn_bf16_supported``), or ``/proc/cpuinfo`` lists ``avx512_bf16`` /
    ``amx_bf16``."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return True
    except (AttributeError, RuntimeError):
        pass
    return bool(_cpu_flags() & set(_BF16_FLAGS))


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``SOLVER.AMP = amp`` on ``device`` (``None`` = float32), logging why
    a request is not honoured: fp16 needs CUDA; bf16 on a CPU needs native bf16 support."""
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp = {amp!r}; expected one of {list(AMP_DTYPES)}")
    if amp == "off" or device.type == "cuda":
        return AMP_DTYPES[amp]
    if amp == "fp16":
        logger.info("SOLVER.AMP = fp16 needs CUDA; training in float32 on %s (bf16 may work on this CPU)", device)
        return None
    if device.type == "cpu" and cpu_supports_bf16():
        logger.info("SOLVER.AMP = bf16: bf16 autocast on the CPU (native bf16 support detected)")
        return torch.bfloat16
    logger.info("SOLVER.AMP = bf16: this CPU has no native bf16 (no %s); training in float32",
                " / ".join(_BF16_FLAGS))
    return None


def resolve_channels_last(mode: str, *, device: torch.device, amp_dtype: torch.dtype | None) -> bool:
    """Whether to train in ``channels_last`` for ``SOLVER.CHANNELS_LAST = mode``.

    ``auto``: on a CPU (oneDNN's convolutions are NHWC-native, so a training step takes less time)
    and on CUDA with AMP (tensor cores want NHWC); off on CUDA in float32, where cuDNN gains little."""
    if mode not in CHANNELS_LAST_MODES:
        raise ValueError(f"channels_last = {mode!r}; expected one of {list(CHANNELS_LAST_MODES)}")
    if mode != "auto":
        return mode == "on"
    return device.type == "cpu" or amp_dtype is not None
