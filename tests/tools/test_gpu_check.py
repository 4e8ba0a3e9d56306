"""tools/gpu_check.py's CPU-side parts: arguments, the JSON writer, step recording and a dry run."""

import json

import pytest
import torch

from ssd.tools import gpu_check


def test_arguments_and_defaults():
    args = gpu_check.parse_args([])
    assert args.iters == 200 and args.archs == ["ssdlite320_mnv3", "ssd300_vgg16"]
    assert args.precisions == ["fp16", "bf16"]
    assert not args.dry_run and args.output.endswith("gpu_check.json")
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--iters", "1"])
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--archs", "yolo"])


def test_a_failing_step_is_recorded_not_raised(tmp_path):
    results = {}
    gpu_check.run_step(results, "good", lambda: {"value": 3})
    gpu_check.run_step(results, "bad", lambda: 1 / 0)
    gpu_check.run_step(results, "absent", lambda: {"status": "skipped", "reason": "no provider"})
    assert results["good"]["status"] == "ok" and results["good"]["value"] == 3
    assert results["bad"]["status"] == "failed" and results["bad"]["error"] == "ZeroDivisionError: division by zero"
    assert results["absent"] == {"status": "skipped", "reason": "no provider", "seconds": results["absent"]["seconds"]}
    path = tmp_path / "sub" / "out.json"
    gpu_check.write_results(str(path), results)
    assert json.loads(path.read_text())["good"]["value"] == 3
    with pytest.raises(ValueError):  # NaN is not JSON: a NaN loss must be reported as a failure, not written
        gpu_check.write_results(str(path), {"loss": float("nan")})


@pytest.mark.skipif(torch.cuda.is_available(), reason="the real check runs on CUDA machines")
def test_without_cuda_the_real_check_refuses(capsys):
    assert gpu_check.main(["--output", "unused.json"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_dry_run_trains_measures_and_writes_one_json(tmp_path):
    out = tmp_path / "gpu.json"
    rc = gpu_check.main(["--dry-run", "--output", str(out), "--iters", "3", "--archs", "ssdlite320_mnv3",
                         "--precisions", "bf16"])
    results = json.loads(out.read_text())
    assert rc == (0 if results["all_ok"] else 1)
    assert results["cuda_tests"]["status"] == "skipped"
    train = results["train_ssdlite320_mnv3_bf16_channels_last"]
    assert train["iterations"] == 3 and train["batch"] == 2 and train["no_nan"] is True
    assert results["inference_ssdlite320_mnv3"]["status"] == "ok" and results["inference_ssdlite320_mnv3"]["batch"] == 2
    assert results["sync_bn"]["status"] == "ok" and results["sync_bn"]["sync_bn_layers"] > 50
    assert results["onnxruntime_cuda"]["status"] in ("skipped", "ok")


@pytest.mark.cuda
def test_detector_on_cuda_matches_the_cpu():
    from ssd.config import load_config
    from ssd.modeling import build_model

    cfg = load_config(gpu_check.os.path.join(gpu_check.ROOT, gpu_check.ARCHS["ssdlite320_mnv3"]),
                      ["MODEL.BACKBONE.WEIGHTS", "", "MODEL.NUM_CLASSES", "5", "TEST.CONFIDENCE_THRESHOLD", "0.2"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    images = torch.randint(0, 256, (2, 3, 320, 320), dtype=torch.uint8)
    with torch.no_grad():
        cpu = model(images)
        gpu = model.cuda()(images.cuda())
    for c, g in zip(cpu, gpu, strict=True):
        torch.testing.assert_close(g["scores"].cpu()[:10], c["scores"][:10], rtol=0, atol=1e-4)
