"""tools/benchmark.py's arithmetic and report: per-round ratios, the postprocess share, the table."""

from ssd.tools.benchmark import format_report, postprocess_share, summarise


def test_ratio_is_the_median_of_per_round_ratios_not_the_ratio_of_medians():
    times = {"torchvision": [1.0, 2.0, 4.0], "fast": [0.5, 0.5, 4.0]}  # ratios 0.5, 0.25, 1.0
    out = summarise(times, reference="torchvision")
    assert out["fast"] == {"median_ms": 500.0, "ratio_to_torchvision": 0.5}
    assert out["torchvision"] == {"median_ms": 2000.0}
    assert summarise({"a": [0.001]}, reference=None) == {"a": {"median_ms": 1.0}}


def test_report_prints_the_readme_tables():
    inference = {"batch1": {"onnxruntime_fp32": {"median_ms": 11.0, "ratio_to_torchvision": 0.2},
                            "onnxruntime_fp32_network": {"median_ms": 10.0, "ratio_to_torchvision": 0.18},
                            "torchvision": {"median_ms": 55.0}}}
    # per-round differences 1, 1, 3 ms over networks of 10, 10, 10 ms: medians 1 ms and 10 %
    share = postprocess_share({"full": [0.011, 0.013, 0.011], "network": [0.010, 0.010, 0.010]})
    report = {"config": "c.yaml", "params_M": 3.3, "gflops": 1.13, "threads": 2, "rounds": 5,
              "load_average": [1.0, 1.0, 1.0], "inference": inference, "postprocess": share,
              "train": {"batch": 4, "fp32": {"median_ms": 1000.0},
                        "bf16_cl": {"median_ms": 250.0, "ratio_to_fp32": 0.25}}}
    assert abs(share["fraction_of_network"] - 0.1) < 1e-12 and abs(share["full_ms"] - 11.0) < 1e-9
    text = format_report(report)
    assert "| onnxruntime_fp32 | 11.0 | 0.20 |" in text
    assert "| torchvision | 55.0 | - |" in text
    assert "1.0 ms = 10 % of the network's 10.0 ms" in text
    assert "| bf16_cl | 250 | 0.25 |" in text

