import os

import pytest
import torch
from yacs.config import CfgNode

from ssd.config import get_cfg, load_config, load_config_text, resolve_device


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_defaults_are_a_fresh_copy():
    a = get_cfg()
    a.SOLVER.LR = 123.0
    assert get_cfg().SOLVER.LR == 1e-3
    assert get_cfg().MODEL.DEVICE == "auto"


def test_base_chain_and_overrides(tmp_path):
    _write(tmp_path, "base/root.yaml", "SOLVER:\n  LR: 0.5\n  MAX_ITER: 10\nINPUT:\n  IMAGE_SIZE: 320\n")
    _write(tmp_path, "base/mid.yaml", "_BASE_: root.yaml\nSOLVER:\n  LR: 0.25\n")
    leaf = _write(tmp_path, "leaf.yaml", "_BASE_: base/mid.yaml\nSOLVER:\n  MAX_ITER: 20\n")
    cfg = load_config(leaf, ["SOLVER.BATCH_SIZE", "4"])
    assert (cfg.SOLVER.LR, cfg.SOLVER.MAX_ITER, cfg.INPUT.IMAGE_SIZE, cfg.SOLVER.BATCH_SIZE) == (0.25, 20, 320, 4)
    assert cfg.is_frozen()
    with pytest.raises(AttributeError):
        cfg.SOLVER.LR = 1.0


def test_several_bases_later_wins(tmp_path):
    _write(tmp_path, "a.yaml", "SOLVER:\n  LR: 0.1\n  GAMMA: 0.5\n")
    _write(tmp_path, "b.yaml", "SOLVER:\n  LR: 0.2\n")
    leaf = _write(tmp_path, "c.yaml", "_BASE_: [a.yaml, b.yaml]\n")
    cfg = load_config(leaf)
    assert (cfg.SOLVER.LR, cfg.SOLVER.GAMMA) == (0.2, 0.5)


def test_base_cycle_and_missing_file(tmp_path):
    a = _write(tmp_path, "a.yaml", "_BASE_: b.yaml\n")
    _write(tmp_path, "b.yaml", "_BASE_: a.yaml\n")
    with pytest.raises(ValueError, match="cycle"):
        load_config(a)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(str(tmp_path / "nope.yaml"))


def test_unknown_key_names_the_file(tmp_path):
    bad = _write(tmp_path, "bad.yaml", "SOLVER:\n  LRR: 0.1\n")
    with pytest.raises(KeyError, match="bad.yaml"):
        load_config(bad)
    with pytest.raises(KeyError):
        load_config(None, ["SOLVER.NOPE", "1"])


@pytest.mark.parametrize("key, suggestion", [
    ("SOLVER.MAX_ITERS", "SOLVER.MAX_ITER"), ("SOLVR.LR", "SOLVER.LR"),
    ("MODEL.BACKBONE.WIGHTS", "MODEL.BACKBONE.WEIGHTS"), ("INPUT.IMAGESIZE", "INPUT.IMAGE_SIZE"),
])
def test_unknown_keys_suggest_the_closest_real_key(key, suggestion):
    with pytest.raises(KeyError) as err:
        load_config(None, [key, "1"])
    assert err.value.args[0] == f"command-line override: unknown config key {key} (did you mean {suggestion}?)"
    with pytest.raises(KeyError) as err:
        load_config(None, ["NOTHING.LIKE_THIS_AT_ALL", "1"])
    assert "did you mean" not in err.value.args[0]


def test_unknown_key_in_a_file_suggests_too(tmp_path):
    bad = _write(tmp_path, "bad.yaml", "SOLVER:\n  MAX_ITERS: 1\n")
    with pytest.raises(KeyError, match=r"bad.yaml: unknown config key SOLVER.MAX_ITERS \(did you mean SOLVER.MAX_ITER"):
        load_config(bad)


def test_a_config_stored_as_text_loads_with_overrides():
    text = load_config(None, ["SOLVER.MAX_ITER", "7"]).dump()
    cfg = load_config_text(text, ["SOLVER.LR", "0.5"], source="model.pth")
    assert (cfg.SOLVER.MAX_ITER, cfg.SOLVER.LR) == (7, 0.5)
    with pytest.raises(KeyError, match="config stored in model.pth: unknown config key SOLVER.MAX_ITERS"):
        load_config_text("SOLVER:\n  MAX_ITERS: 3\n", source="model.pth")


@pytest.mark.parametrize(
    "opts, message",
    [
        (["MODEL.PRIORS.MIN_SIZES", "[30, 60]", "MODEL.PRIORS.MAX_SIZES", "[60, 111]"],
         r"MODEL.PRIORS.ASPECT_RATIOS has 6 .*MODEL.PRIORS.MIN_SIZES has 2 \(\[30, 60\]\)"),
        (["MODEL.PRIORS.MIN_SIZES", "[1, 2, 3, 4, 5, 6]"], "MIN_SIZES and MAX_SIZES go together"),
        (["MODEL.NECK.STRIDES", "[2, 2]"], r"MODEL.NECK.STRIDES has 2 \(\[2, 2\]\)"),
        (["MODEL.NUM_CLASSES", "1"], "MODEL.NUM_CLASSES = 1"),
        (["SOLVER.AMP", "fp8"], r"SOLVER.AMP = 'fp8'; expected one of \['off', 'fp16', 'bf16'\]"),
        (["INPUT.PIXEL_MEAN", "[1.0, 2.0]"], r"INPUT.PIXEL_MEAN = \[1.0, 2.0\]"),
        (["TEST.NMS_THRESHOLD", "1.5"], "TEST.NMS_THRESHOLD = 1.5"),
        (["TEST.DEMO_SCORE_THRESHOLD", "-0.1"], r"TEST.DEMO_SCORE_THRESHOLD = -0.1; expected a value in \[0, 1\]"),
        (["SOLVER.LR_STEPS", "[10, 5]"], r"SOLVER.LR_STEPS = \[10, 5\] must be increasing"),
    ],
)
def test_validation_quotes_values(opts, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, opts)


def test_odd_override_list():
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        load_config(None, ["SOLVER.LR"])


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_every_default_key_has_a_comment():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "ssd", "config", "defaults.py")
    for line in open(path, encoding="utf-8"):
        if line.startswith("_C.") and " = " in line and "CN(" not in line:
            assert "#" in line, f"undocumented key: {line.strip()}"


def test_catalog_accepts_new_entries(tmp_path):
    leaf = _write(tmp_path, "c.yaml",
                  "DATASETS:\n  CATALOG:\n    mine: {FORMAT: voc, ROOT: /data/x, SPLIT: test}\n")
    cfg = load_config(leaf)
    assert isinstance(cfg.DATASETS.CATALOG.mine, CfgNode)
    assert cfg.DATASETS.CATALOG.mine.SPLIT == "test"


def test_deprecated_norm_and_init_keys_still_load_with_a_warning(tmp_path, caplog):
    _write(tmp_path, "base.yaml", "MODEL:\n  BACKBONE:\n    NORM_EPS: 0.001\n  BOX_HEAD:\n    INIT: normal\n")
    leaf = _write(tmp_path, "leaf.yaml", "_BASE_: base.yaml\nMODEL:\n  NORM_MOMENTUM: 0.03\n")
    with caplog.at_level("WARNING", logger="ssd.config.loading"):
        cfg = load_config(leaf, ["MODEL.BACKBONE.NORM_MOMENTUM", "0.01"])
    assert (cfg.MODEL.NORM_EPS, cfg.MODEL.INIT, cfg.MODEL.NORM_MOMENTUM) == (0.001, "normal", 0.01)
    assert "base.yaml: MODEL.BACKBONE.NORM_EPS is deprecated, use MODEL.NORM_EPS" in caplog.text
    assert "MODEL.BOX_HEAD.INIT is deprecated, use MODEL.INIT" in caplog.text
    assert "command-line override: MODEL.BACKBONE.NORM_MOMENTUM is deprecated" in caplog.text
    assert "NORM_EPS" not in cfg.MODEL.BACKBONE and "INIT" not in cfg.MODEL.BOX_HEAD


def test_a_deprecated_key_beside_its_new_name_is_an_error(tmp_path):
    both = _write(tmp_path, "both.yaml", "MODEL:\n  NORM_EPS: 0.001\n  BACKBONE:\n    NORM_EPS: 0.01\n")
    with pytest.raises(ValueError, match=r"both\.yaml: both MODEL\.BACKBONE\.NORM_EPS \(deprecated\) and MODEL\.NORM"):
        load_config(both)
    with pytest.raises(ValueError, match=r"both MODEL\.BOX_HEAD\.INIT \(deprecated\) and MODEL\.INIT"):
        load_config(None, ["MODEL.INIT", "normal", "MODEL.BOX_HEAD.INIT", "xavier"])


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_config_file_is_refused(tmp_path, text):
    # issue 20: an empty YAML silently built VGG16 SSD300 with 21 classes (the defaults)
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"^config .*empty\.yaml is empty: start from a file in configs/"):
        load_config(str(path))
