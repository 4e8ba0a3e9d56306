"""The ssd command: every tool as a subcommand, help with examples, clear messages."""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ssd import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "ssdlite320_mnv3_coco.yaml")


def test_python_dash_m_ssd_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "ssd", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": ROOT}).stdout
    for name in ("train", "test", "demo", "export", "eval", "info", "bench", "convert", "data", "visualize"):
        assert re.search(rf"^  {name} +\S", out, re.M), name
        assert f"ssd {name} " in out  # a worked example per command


def test_a_subcommand_runs_its_tool(capsys):
    assert cli.main(["info", "--config-file", CONFIG, "MODEL.NUM_CLASSES", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_classes"] == 5


@pytest.mark.parametrize("name", ["demo", "test", "eval", "info"])
def test_subcommand_help_shows_options_and_an_example(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ssd {name} ") and "--config-file" in out and "--debug" in out
    assert f"ssd {name} --" in out  # the worked example in the tool's description


def test_unknown_and_missing_commands_are_clear(capsys, monkeypatch):
    assert cli.main(["tset"]) == 2
    assert "unknown command 'tset' (did you mean test?)" in capsys.readouterr().err
    monkeypatch.setitem(cli.COMMANDS, "export", cli.Command("no_such_tool", "x", "ssd export"))
    assert cli.main(["export", "--ckpt", "m.pth"]) == 1
    assert "ssd export: not available in this version (ssd.tools.no_such_tool is missing)" in capsys.readouterr().err


def test_setup_declares_the_console_script():
    text = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    assert '"console_scripts": ["ssd=ssd.cli:main"]' in text


def test_make_clean_removes_what_the_quickstart_writes():
    from ssd.tools import quickstart

    makefile = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    cleaned = re.search(r"^QUICKSTART_OUTPUTS := (.+)$", makefile, re.M).group(1).split()
    assert "rm -rf $(QUICKSTART_OUTPUTS)" in makefile
    written = {quickstart.DATASET_DIR, os.path.join("demo", "output"),
               *(os.path.dirname(path) for path in quickstart.CONVERTED)}
    for name in (quickstart.DEFAULT_CONFIG, os.path.join("configs", "quickstart_ssdlite320_mnv3.yaml")):
        written.add(yaml.safe_load(open(os.path.join(ROOT, name), encoding="utf-8"))["OUTPUT_DIR"])
    assert set(cleaned) == written
