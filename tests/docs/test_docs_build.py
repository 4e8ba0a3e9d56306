"""The documentation site builds with ``mkdocs build --strict``: a broken link or anchor, a page left out
of the nav or an API reference to a name that no longer exists fails the build, and so this test."""

import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        for value in item.values():
            pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_the_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    tutorial = (tmp_path / "site" / "fine-tuning" / "index.html").read_text(encoding="utf-8")
    assert "WEIGHTS_CLASS_MAP" in tutorial and "docs-test" in tutorial  # the markers stay as HTML comments
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "from_checkpoint" in api  # mkdocstrings rendered the Predictor's docstring


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    with open(os.path.join(ROOT, "mkdocs.yml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    pages = sorted(name for name in os.listdir(os.path.join(ROOT, "docs")) if name.endswith(".md"))
    assert sorted(_nav_pages(config["nav"])) == pages


def test_links_from_the_readme_name_files_that_exist():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if not t.startswith(("http", "#"))}
    assert targets and [t for t in sorted(targets) if not os.path.exists(os.path.join(ROOT, t))] == []
