"""The shared command line: options anywhere among KEY VALUE overrides, one-line errors."""

import argparse
import json
import os

import pytest

from ssd.tools import args as tool_args
from ssd.tools import model_info

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml")


def _parser():
    p = argparse.ArgumentParser(prog="t")
    p.add_argument("--config-file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--skip", nargs="*", default=[])
    p.add_argument("--score-threshold", type=float, default=0.5)
    tool_args.add_overrides(p)
    return p


@pytest.mark.parametrize("argv, json_flag, opts", [
    (["--config-file", "c.yaml", "MODEL.NUM_CLASSES", "5", "--json"], True, ["MODEL.NUM_CLASSES", "5"]),
    (["MODEL.NUM_CLASSES", "5", "--json", "--config-file", "c.yaml"], True, ["MODEL.NUM_CLASSES", "5"]),
    (["--config-file=c.yaml", "SEED", "-1", "OUTPUT_DIR", "--weird"], False, ["SEED", "-1", "OUTPUT_DIR", "--weird"]),
    (["--config-file", "c.yaml", "--", "SOLVER.LR", "0.1"], False, ["SOLVER.LR", "0.1"]),
    (["DATASETS.CATALOG.mine.ROOT", "/d", "--config-file", "c.yaml"], False, ["DATASETS.CATALOG.mine.ROOT", "/d"]),
])
def test_options_before_or_after_the_overrides(argv, json_flag, opts):
    args = tool_args.parse_args(_parser(), argv)
    assert (args.config_file, args.json, args.opts) == ("c.yaml", json_flag, opts)


def test_option_values_stay_with_their_option():
    args = tool_args.parse_args(_parser(), ["--skip", "train", "data", "SOLVER.LR", "0.1", "--score", "0.2",
                                            "--config-file", "UPPER.YAML"])
    assert args.skip == ["train", "data"] and args.score_threshold == 0.2
    assert args.config_file == "UPPER.YAML" and args.opts == ["SOLVER.LR", "0.1"]


def test_stray_tokens_and_missing_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as err:
        tool_args.parse_args(_parser(), ["--config-file", "c.yaml", "model.num_classes", "5"])
    assert err.value.code == 2
    assert "unexpected argument(s) ['model.num_classes', '5']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool_args.parse_args(_parser(), ["--json", "SOLVER.MAX_ITER"])
    assert "the override SOLVER.MAX_ITER has no value" in capsys.readouterr().err


def test_model_info_accepts_json_after_the_overrides(capsys):
    assert model_info.main(["--config-file", CONFIG, "MODEL.NUM_CLASSES", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 5


def test_user_mistakes_are_one_line_unless_debugging(capsys, monkeypatch):
    monkeypatch.delenv("SSD_DEBUG", raising=False)
    argv = ["--config-file", CONFIG, "SOLVER.MAX_ITERS", "5"]
    assert model_info.main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: command-line override: unknown config key SOLVER.MAX_ITERS "
                          "(did you mean SOLVER.MAX_ITER?)")
    with pytest.raises(KeyError):
        model_info.main([*argv, "--debug"])
    monkeypatch.setenv("SSD_DEBUG", "1")
    with pytest.raises(KeyError):
        model_info.main(argv)
    monkeypatch.setenv("SSD_DEBUG", "0")
    assert model_info.main(["--config-file", "missing.yaml"]) == 1
    assert "config file not found" in capsys.readouterr().err


def test_help_and_a_missing_option_answer_before_torch_is_imported():
    # issue 20: 'ssd train --help' took 2.5-7 s and a missing --config-file 4 s: torch came first
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from ssd.cli import main\n"
        "for argv in (['train', '--help'], ['train'], ['export', '--help'], ['export']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "print(sorted(m for m in ('torch', 'onnx', 'cv2', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(__import__("ssd.cli").cli.COMMANDS))
def test_every_subcommand_help_answers_without_torch(name):
    # issue 20: 'ssd <command> --help' imported torch first and took seconds; parse, then import
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from ssd.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        main([{name!r}, '--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        f"assert out.getvalue().startswith('usage: ssd {name}'), out.getvalue()[:200]\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_the_choices_named_in_the_tools_match_the_library():
    # named in the tools so that --help needs no torch; they must not drift from the library's
    from ssd.convert import SOURCES
    from ssd.data import synthetic
    from ssd.data.formats import FORMATS
    from ssd.data.synthetic import DIFFICULTIES
    from ssd.export.backends import BACKENDS
    from ssd.tools import convert_weights, data, demo, make_synthetic_dataset, test

    assert convert_weights.SOURCES == SOURCES
    assert test.BACKENDS == demo._BACKENDS == BACKENDS
    assert data.SOURCES == tuple(FORMATS)
    assert sorted(make_synthetic_dataset.DIFFICULTIES) == sorted(DIFFICULTIES)
    assert [f for f in make_synthetic_dataset.FORMATS if not hasattr(synthetic, f"write_{f}")] == []


def test_the_tools_log_in_one_format():
    # issue 20: the tools used two log formats ("WARNING ssd.demo: ..." and setup_logger's)
    import glob
    import os
    import re
    import subprocess
    import sys

    tools = glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "ssd", "tools", "*.py"))
    assert [t for t in tools if "logging.basicConfig(" in open(t, encoding="utf-8").read()] == []
    code = ("import logging\nfrom ssd.utils.logger import setup_tool_logging, setup_logger\n"
            "setup_tool_logging()\nlogging.getLogger('other').info('tool line')\n"
            "setup_logger(output_dir=None)\nlogging.getLogger('ssd.x').info('run line')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    stamp = r"\d\d/\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(rf"{stamp} other INFO: tool line", result.stderr.strip()), result.stderr
    assert re.fullmatch(rf"{stamp} ssd.x INFO: run line", result.stdout.strip()), result.stdout
