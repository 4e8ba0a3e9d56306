"""int8 static quantisation: QDQ convolutions, fp32 postprocess, calibration images from the test transform."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
import torch

from ssd.config import load_config
from ssd.export import OnnxRuntimeDetector, export_detector, export_network
from ssd.export.quantize import calibration_chunk, calibration_images, quantize_network
from ssd.modeling import build_model

from .helpers import randomise, test_images

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _small_ssdlite(count: int, *opts: str):
    """A quarter-width SSDLite320-MNv3 at 128 px with spread-out random weights, ``count`` test
    images, and its exported network graph."""
    cfg = load_config(os.path.join(ROOT, "configs/ssdlite320_mnv3_coco.yaml"),
                      ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.NUM_CLASSES", "5", "MODEL.BACKBONE.WIDTH_MULT", "0.25",
                       "INPUT.IMAGE_SIZE", "128", *opts])
    torch.manual_seed(0)
    images = test_images(128, count=count)
    model = randomise(build_model(cfg), images, cls_scale=1.0)
    return model, images, export_network(model)


class _Dataset:
    """Stands in for a test-transform dataset: item i is (uint8 image filled with i, target, info)."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return torch.full((3, 8, 8), i, dtype=torch.uint8), {}, {}


def test_calibration_images_are_spread_over_the_dataset():
    images = calibration_images(_Dataset(), 4)
    assert [int(im[0, 0, 0, 0]) for im in images] == [0, 3, 6, 9]
    assert images[0].shape == (1, 3, 8, 8) and images[0].dtype == np.uint8
    assert len(calibration_images(_Dataset(), 50)) == 10
    with pytest.raises(ValueError, match="at least one"):
        calibration_images(_Dataset(), 0)


class _FloatDataset(_Dataset):
    """The tf_bilinear test transform's float32 pixels, not whole values."""

    def __getitem__(self, i):
        return torch.full((3, 8, 8), i + 0.25, dtype=torch.float32), {}, {}


def test_calibration_images_keep_the_tf_bilinear_float_pixels():
    images = calibration_images(_FloatDataset(), 2)
    assert images[1].dtype == np.float32 and float(images[1][0, 0, 0, 0]) == 9.25  # unrounded: a float32 graph


def test_int8_graph_quantises_convolutions_and_keeps_the_contract(tmp_path, capfd):
    model, images, network = _small_ssdlite(4, "TEST.CONFIDENCE_THRESHOLD", "0.3")
    capfd.readouterr()
    int8 = quantize_network(network, [im[None].numpy() for im in images])
    assert "Collecting tensor data" not in capfd.readouterr().out  # issue 20: the calibrator's chatter
    ops = [n.op_type for n in int8.graph.node]
    convs = [n.op_type for n in network.graph.node].count("Conv")
    assert ops.count("QuantizeLinear") > 20 and ops.count("Conv") == convs
    path = str(tmp_path / "int8.onnx")
    onnx.save(export_detector(model, class_names=list("abcd"), network=int8,
                              quantization={"calibration_images": 4}), path)
    backend = OnnxRuntimeDetector(path)
    assert backend.quantization == {"calibration_images": 4}
    assert "NonMaxSuppression" in [n.op_type for n in onnx.load(path).graph.node]
    out = backend(images)
    assert len(out) == 4 and all(o["labels"].dtype == torch.int64 for o in out)
    assert all((o["scores"] > 0.3).all() for o in out)  # the fp32 postprocess applies the threshold exactly
    # int8 scores follow the fp32 ones (calibrated on these images): the best score per image within 0.1
    with torch.no_grad():
        expected = model(images)
    for e, o in zip(expected, out, strict=True):
        assert abs(float(e["scores"][:1].sum()) - float(o["scores"][:1].sum())) < 0.1
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(meta["ssd.quantization"]) == {"calibration_images": 4}


def test_every_convolution_runs_as_an_int8_kernel_in_onnx_runtime(tmp_path):
    """ONNX Runtime's CPU provider fuses DequantizeLinear -> Conv -> QuantizeLinear into QLinearConv
    only when input and output activations have the same type, and its optimiser turns some int8
    activations into uint8: with int8 activations 52 of SSDLite320's 98 convolutions stayed float
    convolutions between (de)quantisations (2.5x slower than fp32). uint8 activations fuse all."""
    import onnxruntime

    _, images, network = _small_ssdlite(2)
    int8 = quantize_network(network, [im[None].numpy() for im in images])
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    options.log_severity_level = 3
    onnxruntime.InferenceSession(int8.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node]
    convs = [n.op_type for n in network.graph.node].count("Conv")
    assert convs > 50 and ops.count("QLinearConv") == convs and "Conv" not in ops


def test_calibration_in_chunks_gives_the_ranges_of_one_pass():
    """Calibration runs chunk by chunk (ONNX Runtime keeps every activation of a chunk: 115 MB per
    SSDLite320 image, 11.6 GB for the default 100 images in one pass): min/max ranges, merged over
    chunks, are those of one pass, so every scale and zero point of the graph is the same."""
    assert [calibration_chunk(n, 16) for n in (100, 97, 4, 32)] == [10, 1, 4, 16]
    _, images, network = _small_ssdlite(4)
    calib = [im[None].numpy() for im in images]

    def quantisation_parameters(model):
        values = {}
        for init in model.graph.initializer:
            if init.name.endswith(("_scale", "_zero_point")):
                values[init.name] = onnx.numpy_helper.to_array(init)
        return values

    one_pass = quantisation_parameters(quantize_network(network, calib, method="minmax", chunk=4))
    chunked = quantisation_parameters(quantize_network(network, calib, method="minmax", chunk=1))
    assert len(one_pass) > 100 and one_pass.keys() == chunked.keys()
    assert all(np.array_equal(one_pass[k], chunked[k]) for k in one_pass)
    first_image_only = quantisation_parameters(quantize_network(network, calib[:1], method="minmax"))
    assert any(not np.array_equal(one_pass[k], first_image_only[k]) for k in one_pass)  # the images matter
