"""Installable package for the ssd detection framework."""

from setuptools import find_packages, setup

setup(
    name="ssd",
    version="0.1.0",
    description="Config-driven SSD / SSDLite object detection: train, evaluate, deploy.",
    python_requires=">=3.11",
    packages=find_packages(include=["ssd", "ssd.*"]),
    install_requires=[
        # torchvision from PyPI needs the regular torch build: never pin the CPU-only wheel.
        "torch>=2.1",
        "torchvision>=0.16",
        "yacs>=0.1.8",
        "opencv-python-headless>=4.8",
        "numpy>=1.24",
        "pycocotools>=2.0.7",
        "faster-coco-eval>=1.6",  # default COCO metrics backend (TEST.COCO_BACKEND)
        "tqdm>=4.60",
        "tensorboard>=2.12",
        "matplotlib>=3.7",  # PR curves, confusion matrix and training curves (ssd.visualization.plots)
        "av>=12",  # PyAV: the demo writes H.264 video that browsers play (it ships libx264)
        # deployment: tools/export.py, the onnxruntime backend and int8 quantisation (tests need them too)
        "onnx>=1.15",
        "onnxruntime>=1.17",
    ],
    extras_require={
        "dev": [
            "pytest>=7",
            "pytest-xdist>=3.5",  # make test runs the suite on two workers
            "ruff>=0.4",
            "import-linter>=2.1",
            # the documentation site (make docs; mkdocs build --strict runs in the tests)
            "mkdocs-material>=9.5",
            "mkdocstrings[python]>=0.26",
            # its public-domain sample photos feed the TF-conversion parity tests
            "scikit-image>=0.21",
        ]
    },
    # `ssd train|test|demo|...`: the tools as one command (python -m ssd without installing)
    entry_points={"console_scripts": ["ssd=ssd.cli:main"]},
)
