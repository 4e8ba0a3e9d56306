from ssd.evaluation.benchmark import benchmark_evaluators, synthetic_detection_set

from .voc_reference import reference_voc_ap


def test_synthetic_set_has_100_detections_per_image_and_about_4_objects():
    annotations, predictions = synthetic_detection_set(num_images=50, num_classes=20, seed=0)
    assert [len(p["scores"]) for p in predictions] == [100] * 50
    assert 100 < sum(len(a["labels"]) for a in annotations) < 300
    assert all(((p["labels"] >= 1) & (p["labels"] <= 20)).all() for p in predictions)


def test_benchmark_reports_ratios_and_equal_numbers():
    report = benchmark_evaluators(num_images=5, rounds=1, seed=0, voc_reference=reference_voc_ap)
    assert report["coco_detections"] == report["voc_detections"] == 500
    assert report["coco_max_abs_diff"] <= 1e-12 and report["voc_max_abs_diff"] == 0.0
    assert report["coco_speedup_vs_pycocotools"] > 0 and report["voc_speedup_vs_chainercv_style_reference"] > 0


def test_without_a_voc_reference_the_voc_evaluator_is_timed_alone():
    report = benchmark_evaluators(num_images=5, rounds=2, seed=0)
    assert report["voc_detections"] == 500 and report["voc_ours_s"] > 0
    assert not [k for k in report if k.startswith("voc_") and ("speedup" in k or "diff" in k)]
