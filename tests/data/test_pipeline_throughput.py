"""ssd.data.benchmark.measure_pipeline_throughput: every variant sees the same images, interleaved."""

import numpy as np

from ssd.data import benchmark


def test_each_variant_decodes_the_warm_up_and_every_round_and_reports_its_best_round(monkeypatch):
    reads = []

    def read_image(path):
        reads.append(path)
        return np.zeros((60, 80, 3), np.uint8)

    monkeypatch.setattr(benchmark, "read_image", read_image)
    samples = [(f"{i}.jpg", np.array([[5, 5, 40, 50]], np.float32), np.array([1], np.int64)) for i in range(2)]
    rates = benchmark.measure_pipeline_throughput(samples, variants=("caffe", "ssdlite"), image_size=64,
                                                  num_images=3, rounds=2)
    assert list(rates) == ["caffe", "ssdlite"] and all(r > 0 for r in rates.values())
    # warm-up: both samples per variant; then per round and variant 3 images cycling 0, 1, 0
    assert reads == ["0.jpg", "1.jpg"] * 2 + ["0.jpg", "1.jpg", "0.jpg"] * 4
