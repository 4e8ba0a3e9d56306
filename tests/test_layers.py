"""The import contracts of ``.importlinter`` (issue 17 item 5): imports run down the floors of
``ssd`` and no package's modules import each other in a circle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / ".importlinter"


def _lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with this checkout's contracts on the ``ssd`` package under ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    # the console script sits next to the interpreter; `python -m importlinter` has no entry point
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--no-cache", "--no-logo", str(CONTRACTS)], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=120)


def test_imports_run_down_the_floors_and_in_no_circle():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, f"lint-imports found imports against .importlinter:\n{result.stdout}{result.stderr}"
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_contracts_catch_an_upward_import_and_a_circle(tmp_path):
    """On a copy of the package with one import up the floors and one circle planted: both
    contracts break and name the planted lines, so the passing check above is not vacuous."""
    copy = tmp_path / "ssd"
    shutil.copytree(ROOT / "ssd", copy, ignore=shutil.ignore_patterns("__pycache__"))
    with open(copy / "config" / "validation.py", "a", encoding="utf-8") as f:
        f.write("\nfrom ..data import transforms  # noqa\n")
    with open(copy / "convert" / "classes.py", "a", encoding="utf-8") as f:
        f.write("\nfrom . import convert  # noqa\n")  # convert.py imports classes.py
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 2 broken." in result.stdout
    assert "ssd.config is not allowed to import ssd.data:" in result.stdout
    assert "ssd.config.validation -> ssd.data.transforms" in result.stdout
    assert "No cycles are allowed in ssd.convert." in result.stdout
