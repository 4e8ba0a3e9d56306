"""The exported ONNX detector, run in a plain ONNX Runtime session, gives PyTorch's detections."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from ssd.config import load_config
from ssd.engine.predictor import Predictor
from ssd.export import DETECTION_OUTPUTS, NETWORK_OUTPUTS, OnnxRuntimeDetector, export_detector
from ssd.export.onnx import (
    DecodedNetwork,
    append_postprocess,
    export_network,
    fold_input_normalisation,
    postprocess_settings,
    read_metadata,
)
from ssd.modeling import build_model
from ssd.modeling.postprocess import select_detections

from .helpers import assert_same_detections, randomise, test_images

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = ["circle", "square", "triangle", "star"]


def _detector(*opts: str, config: str = "configs/ssdlite320_mnv3_coco.yaml", size: int = 320):
    cfg = load_config(os.path.join(ROOT, config), ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.NUM_CLASSES", "5", *opts])
    torch.manual_seed(0)
    images = test_images(size)
    return randomise(build_model(cfg), images), images, cfg


@pytest.fixture(scope="module")
def ssdlite():
    return _detector()


@pytest.mark.parametrize("opts", [
    (),  # every image fills max_detections
    ("TEST.CONFIDENCE_THRESHOLD", "0.97", "TEST.MAX_PER_IMAGE", "100", "TEST.TOPK_CANDIDATES", "40"),  # padded rows
])
def test_full_graph_equals_pytorch_in_a_plain_session(tmp_path, opts):
    model, images, cfg = _detector(*opts)
    path = str(tmp_path / "model.onnx")
    onnx.save(export_detector(model, class_names=CLASSES, config_yaml=cfg.dump()), path)

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(DETECTION_OUTPUTS)
    assert session.get_inputs()[0].type == "tensor(uint8)"
    boxes, scores, labels, counts = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected = model(images)
    d = min(cfg.TEST.MAX_PER_IMAGE, 4 * cfg.TEST.TOPK_CANDIDATES)
    assert boxes.shape == (3, d, 4) and scores.shape == (3, d) and labels.dtype == np.int64
    assert counts.tolist() == [len(e["scores"]) for e in expected]
    for i, e in enumerate(expected):
        n = int(counts[i])
        assert_same_detections(e, {"boxes": torch.from_numpy(boxes[i, :n]), "scores": torch.from_numpy(scores[i, :n]),
                                   "labels": torch.from_numpy(labels[i, :n])})
        # padding rows are zeros with label 0
        assert not boxes[i, n:].any() and not scores[i, n:].any() and not labels[i, n:].any()
    if opts:
        assert 0 < counts.min() < d, counts  # the threshold, not D, bounded some images: padded rows

    meta = read_metadata(onnx.load(path))
    assert json.loads(meta["ssd.class_names"]) == CLASSES
    assert meta["ssd.image_size"] == "320" and meta["ssd.postprocess"] == "graph"
    assert json.loads(meta["ssd.test"])["score_threshold"] == cfg.TEST.CONFIDENCE_THRESHOLD
    assert load_config_text(meta["ssd.config"], tmp_path).TEST.MAX_PER_IMAGE == cfg.TEST.MAX_PER_IMAGE


def _postprocess_session(model, global_candidates):
    st = postprocess_settings(model)
    graph = append_postprocess(
        export_network(model), num_priors=int(model.box_head.priors.shape[0]), num_classes=len(CLASSES),
        score_threshold=st["score_threshold"], nms_threshold=st["nms_threshold"],
        topk_candidates=st["topk_candidates"], max_detections=st["max_detections"],
        global_candidates=global_candidates)
    onnx.checker.check_model(graph, full_check=True)
    return onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])


def _selections(model, images, *, best_pairs=None, **overrides):
    """PyTorch's detections per image; with ``best_pairs``, from only the image's ``best_pairs`` best
    (prior, class) pairs (every other score zeroed): what the global selection alone would give."""
    with torch.no_grad():
        boxes, scores = DecodedNetwork(model)(images)
    st = {**postprocess_settings(model), **overrides}
    out = []
    for b, s in zip(boxes, scores, strict=True):
        if best_pairs is not None:
            flat = s.flatten()
            kept = torch.zeros_like(flat)
            top = flat.topk(best_pairs).indices
            kept[top] = flat[top]
            s = kept.view_as(s)
        out.append(select_detections(b, s, score_threshold=st["score_threshold"], nms_threshold=st["nms_threshold"],
                                     topk_candidates=st["topk_candidates"], max_detections=st["max_detections"]))
    return out


@pytest.mark.parametrize("opts", [
    (),  # D = k = 300 of 3234 priors x 4 classes
    ("TEST.CONFIDENCE_THRESHOLD", "0.3", "TEST.MAX_PER_IMAGE", "20", "TEST.TOPK_CANDIDATES", "5"),  # the k cap binds
])
def test_global_selection_fallback_and_per_class_path_all_equal_pytorch(opts):
    """The exported postprocess has two paths (append_postprocess): the global selection over the image's
    best (prior, class) pairs when they provably hold the answer, torchvision's per-class order of work
    otherwise. Each alone, and the switch between them, give PyTorch's detections."""
    model, images, cfg = _detector(*opts)
    st = postprocess_settings(model)
    d, pairs = st["max_detections"], 3234 * len(CLASSES)
    expected = _selections(model, images)
    # d best pairs are too few here (NMS removes some), so that graph must take its fallback to be right
    assert any(len(e["scores"]) != len(t["scores"]) or not torch.equal(e["labels"], t["labels"])
               for e, t in zip(expected, _selections(model, images, best_pairs=d), strict=True))
    if opts:  # and without the per-class cap of k candidates the answer would differ
        uncapped = _selections(model, images, topk_candidates=pairs)
        assert any(len(e["scores"]) != len(u["scores"]) for e, u in zip(expected, uncapped, strict=True))
    for global_candidates in (0, d, None, pairs):  # per-class only, fallback, default, global only
        boxes, scores, labels, counts = _postprocess_session(model, global_candidates).run(
            None, {"images": images.numpy()})
        assert counts.tolist() == [len(e["scores"]) for e in expected], global_candidates
        for i, e in enumerate(expected):
            n = int(counts[i])
            assert_same_detections(e, {"boxes": torch.from_numpy(boxes[i, :n]),
                                       "scores": torch.from_numpy(scores[i, :n]),
                                       "labels": torch.from_numpy(labels[i, :n])})
            assert not boxes[i, n:].any() and not scores[i, n:].any() and not labels[i, n:].any()


def test_global_candidates_below_the_detections_are_refused(ssdlite):
    model, _, _ = ssdlite
    with pytest.raises(ValueError, match="global_candidates = 10: needs at least the 300 detections"):
        _postprocess_session(model, 10)


@pytest.mark.parametrize("config,size,pixel_ops", [
    ("configs/ssdlite320_mnv3_coco.yaml", 320, ["Cast", "Div", "Sub", "Div"]),  # 0-1 pixels, ImageNet mean / std
    ("configs/ssd300_vgg16_voc0712.yaml", 300, ["Cast", "Sub", "Div"]),  # Caffe's 0-255 pixels
])
def test_input_normalisation_is_folded_into_the_first_convolution(monkeypatch, config, size, pixel_ops):
    import ssd.export.onnx as export_onnx

    model, images, _ = _detector(config=config, size=size)
    monkeypatch.setattr(export_onnx, "fold_input_normalisation", lambda m: m)
    plain = export_network(model)
    monkeypatch.undo()
    before = [n.op_type for n in plain.graph.node if n.op_type not in ("Constant", "Identity")]
    assert before[:len(pixel_ops) + 1] == [*pixel_ops, "Conv"]
    folded = fold_input_normalisation(export_network(model))
    after = [n.op_type for n in folded.graph.node if n.op_type not in ("Constant", "Identity")]
    assert after[:3] == ["Cast", "Sub", "Conv"] and len(after) == len(before) - len(pixel_ops) + 2
    with torch.no_grad():
        boxes, scores = (t.numpy() for t in DecodedNetwork(model)(images))
    assert scores.std() > 0.05  # spread-out scores: the comparison has something to compare
    errors = []
    for graph in (plain, folded):
        b, s = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"images": images.numpy()})
        errors.append((float(np.abs(b - boxes).max()), float(np.abs(s - scores).max())))
    # fp32 rounding only: the folded graph is as close to PyTorch as the plain one (this sharpened
    # random model amplifies rounding: ~5e-5 on scores and ~2e-3 px on boxes for either)
    (plain_box, plain_score), (folded_box, folded_score) = errors
    assert folded_box <= max(2 * plain_box, 1e-3) and folded_score <= max(2 * plain_score, 1e-5), errors


def load_config_text(text, tmp_path):
    path = tmp_path / "stored.yaml"
    path.write_text(text)
    return load_config(str(path))


load_config_text.__test__ = False


def test_batch_is_dynamic_and_backend_matches_the_model_call(ssdlite, tmp_path):
    model, images, _ = ssdlite
    path = str(tmp_path / "model.onnx")
    onnx.save(export_detector(model, class_names=CLASSES), path)
    backend = OnnxRuntimeDetector(path)
    assert backend.eval() is backend and backend.image_size == 320 and backend.class_names == CLASSES
    with torch.no_grad():
        expected = model(images)
    for batch in (images[:1], images):  # batch 1 and 3 through the same graph
        actual = backend(batch)
        assert len(actual) == len(batch)
        for e, a in zip(expected, actual, strict=False):
            assert_same_detections(e, a)
    assert backend(images.float())[0]["labels"].tolist() == actual[0]["labels"].tolist()  # whole-valued floats
    with pytest.raises(ValueError, match=r"\[B, 3, 320, 320\]"):
        backend(images[:, :, :300])
    with pytest.raises(ValueError, match="cannot be trained"):
        backend.train()


def test_network_only_graph_with_the_torch_postprocess(ssdlite, tmp_path):
    model, images, _ = ssdlite
    path = str(tmp_path / "network.onnx")
    onnx.save(export_detector(model, class_names=CLASSES, postprocess=False), path)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == list(NETWORK_OUTPUTS)
    boxes, scores = session.run(None, {"images": images.numpy()})
    assert boxes.shape == (3, 3234, 4) and scores.shape == (3, 3234, 4)
    backend = OnnxRuntimeDetector(path)
    assert not backend.postprocess_in_graph
    with torch.no_grad():
        expected = model(images)
    for e, a in zip(expected, backend(images), strict=True):
        assert_same_detections(e, a)


def test_foreign_onnx_files_and_wrong_class_lists_are_refused(ssdlite, tmp_path):
    model, _, _ = ssdlite
    with pytest.raises(ValueError, match="3 class names for a model with 4 foreground classes"):
        export_detector(model, class_names=CLASSES[:3])
    plain = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]))
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(ValueError, match="not an exported ssd detector"):
        OnnxRuntimeDetector(str(tmp_path / "plain.onnx"))


def test_the_class_layout_travels_through_the_onnx_metadata_to_the_predictor(ssdlite, tmp_path):
    from ssd.data.class_layout import ClassLayout

    model, _, _ = ssdlite
    layout = ClassLayout(CLASSES, {1: 3, 2: 7, 3: 8, 4: 90})  # a COCO-style layout: labels are not the ids
    path = str(tmp_path / "model.onnx")
    onnx.save(export_detector(model, class_layout=layout), path)
    assert json.loads(read_metadata(onnx.load(path))["ssd.label_to_category_id"]) == {"1": 3, "2": 7, "3": 8,
                                                                                      "4": 90}
    backend = OnnxRuntimeDetector(path)
    assert backend.class_layout == layout and backend.label_to_category_id == {1: 3, 2: 7, 3: 8, 4: 90}
    predictor = Predictor.from_onnx(path)
    assert predictor.class_layout == layout and predictor.class_names == CLASSES
    plain = str(tmp_path / "plain_layout.onnx")  # class names only: labels are their own ids
    onnx.save(export_detector(model, class_names=CLASSES), plain)
    assert OnnxRuntimeDetector(plain).class_layout == ClassLayout(CLASSES)
    with pytest.raises(ValueError, match="pass one of class_names"):
        export_detector(model, class_names=CLASSES, class_layout=layout)


def test_tf_bilinear_graph_takes_unrounded_float_pixels(ssdlite, tmp_path):
    """INPUT.RESIZE_MODE tf_bilinear gives float32 pixels: the graph takes them as they are (rounding
    them to uint8 would move a converted TF model's scores by 3e-3) and says which resize it needs."""
    model, images, _ = ssdlite
    path = str(tmp_path / "tf.onnx")
    onnx.save(export_detector(model, class_names=CLASSES, resize_mode="tf_bilinear"), path)
    graph = onnx.load(path)
    assert json.loads(read_metadata(graph)["ssd.input"]) == {"resize_mode": "tf_bilinear"}
    pixel_ops = [n.op_type for n in graph.graph.node if n.op_type not in ("Constant", "Identity")][:3]
    assert pixel_ops == ["Cast", "Sub", "Conv"]  # the normalisation folded into the first conv as for uint8
    backend = OnnxRuntimeDetector(path)
    assert backend.resize_mode == "tf_bilinear" and backend.float_input
    assert backend.session.get_inputs()[0].type == "tensor(float)"
    floats = images.float() + 0.37  # not whole values: they reach the network unrounded
    with torch.no_grad():
        expected, from_uint8 = model(floats), model(images)
    for e, a in zip(expected, backend(floats), strict=True):
        assert_same_detections(e, a)
    for e, a in zip(from_uint8, backend(images), strict=True):  # uint8 batches convert exactly
        assert_same_detections(e, a)
    assert Predictor.from_onnx(path).resize_mode == "tf_bilinear"


def test_files_without_the_input_entry_mean_opencv(ssdlite, tmp_path):
    model, _, _ = ssdlite
    graph = export_detector(model, class_names=CLASSES)
    assert json.loads(read_metadata(graph)["ssd.input"]) == {"resize_mode": "opencv"}
    kept = [p for p in graph.metadata_props if p.key != "ssd.input"]  # as files written before the entry
    del graph.metadata_props[:]
    graph.metadata_props.extend(kept)
    path = str(tmp_path / "old.onnx")
    onnx.save(graph, path)
    backend = OnnxRuntimeDetector(path)
    assert backend.resize_mode == "opencv" and not backend.float_input
    assert Predictor.from_onnx(path).resize_mode == "opencv"


def test_a_network_of_another_input_dtype_is_refused(ssdlite):
    model, _, _ = ssdlite
    with pytest.raises(ValueError, match="input is UINT8 but resize_mode = 'tf_bilinear' gives FLOAT"):
        export_detector(model, class_names=CLASSES, network=export_network(model), resize_mode="tf_bilinear")
    with pytest.raises(ValueError, match="resize_mode = 'cubic'"):
        export_network(model, resize_mode="cubic")
