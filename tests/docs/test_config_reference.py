"""docs/config-reference.md is generated from ssd/config/defaults.py and must stay in step with it."""

import importlib.util
import os
import sys

import pytest

from ssd.config import get_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool():
    spec = importlib.util.spec_from_file_location("gen_config_reference", os.path.join(ROOT, "tools",
                                                                                         "gen_config_reference.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up while being defined
    spec.loader.exec_module(module)
    return module


def _leaves(node, prefix=""):
    for key, value in node.items():
        if hasattr(value, "items") and len(value):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_the_page_is_what_the_generator_writes_now():
    tool = _tool()
    page = open(tool.PAGE, encoding="utf-8").read()
    assert page == tool.generate(), "docs/config-reference.md is stale: run python tools/gen_config_reference.py"


def test_every_key_of_the_config_has_a_row_with_its_comment():
    tool = _tool()
    page = open(tool.PAGE, encoding="utf-8").read()
    rows = {line.split("|")[1].strip().strip("`") for line in page.splitlines() if line.startswith("| `")}
    assert rows == set(_leaves(get_cfg()))  # every key a row, and nothing more
    assert "| `SOLVER.MAX_ITER` | `120000` | training iterations |" in page.splitlines()


def test_a_note_above_a_key_and_a_section_banner():
    tool = _tool()
    source = ('_C = CN()\n# -----\n# Solver\n# -----\n_C.SOLVER = CN()\n# why: the papers say so\n'
              '_C.SOLVER.LR = 1e-3  # base rate | per batch\n_C.SEED = 0  # seed\n')
    entries = tool.parse_defaults(source, "d.py")
    assert entries == [tool.Entry("SOLVER", True, "CN()", "", ""),
                       tool.Entry("SOLVER.LR", False, "1e-3", "base rate | per batch", "why: the papers say so"),
                       tool.Entry("SEED", False, "0", "seed", "")]
    text = tool.render(entries)
    assert "| `SOLVER.LR` | `1e-3` | base rate \\| per batch<br>why: the papers say so |" in text
    assert text.index("## Top level") < text.index("| `SEED`") and "## `SOLVER`" in text


def test_a_key_without_a_comment_names_the_file_and_the_key():
    with pytest.raises(ValueError, match=r"^d\.py: config key SOLVER\.LR has no comment"):
        _tool().parse_defaults("_C = CN()\n_C.SOLVER = CN()\n_C.SOLVER.LR = 1e-3\n", "d.py")
