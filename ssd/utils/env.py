"""What a run needs to be reproduced: versions, devices, world size, git revision, seeding."""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
from typing import Any

import numpy as np
import torch


def git_revision(directory: str | None = None) -> str:
    """``<sha>`` (``+dirty`` when the tree has changes) of the repository holding this package,
    or ``"unknown"`` outside a git checkout."""
    directory = directory or os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def collect_env(*, world_size: int = 1) -> dict[str, Any]:
    """Library versions, devices and world size as a JSON-serialisable dict."""
    import cv2
    import torchvision

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "world_size": world_size,
        "git": git_revision(),
    }
    try:
        import pycocotools

        info["pycocotools"] = getattr(pycocotools, "__version__", "installed")
    except ImportError:
        info["pycocotools"] = None
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch. Every rank uses the same seed so the initial weights equal a
    single-process run's (DDP broadcasts rank 0's anyway); data order is seeded by the loader.
    ``seed < 0`` leaves the generators alone."""
    if seed < 0:
        return
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
