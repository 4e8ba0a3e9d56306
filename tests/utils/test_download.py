"""The one download path: whole-URL cache keys, torch hub's hash-prefix check, offline messages."""

import hashlib
import os

import pytest
import torch

from ssd.checkpoint.io import load_checkpoint
from ssd.utils.download import DownloadError, cache_path, download, hash_prefix, is_url


@pytest.fixture(autouse=True)
def private_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def test_is_url_reads_only_url_schemes():
    assert is_url("https://x.org/a.pth") and is_url("file:///tmp/a.pth") and is_url("ftp://h/a")
    assert not is_url("/tmp/a.pth") and not is_url("C:\\w\\a.pth") and not is_url("VGG16_Weights.IMAGENET1K_V1")
    assert not is_url("s3://bucket/a.pth")  # not a scheme urllib can fetch


def test_hash_prefix_follows_torch_hub():
    assert hash_prefix("vgg16_features-amdegroot-88682ab5.pth") == "88682ab5"
    assert hash_prefix("ssd-deadbeef.pth") == "deadbeef"
    assert hash_prefix("model.pth") is None and hash_prefix("model_0000500.pth") is None


def test_two_urls_with_the_same_file_name_are_two_checkpoints(tmp_path):
    for folder, iteration in (("A", 1), ("B", 2)):
        (tmp_path / folder).mkdir()
        torch.save({"model": {"w": torch.full((2,), float(iteration))}, "iteration": iteration,
                    "class_names": [folder]}, tmp_path / folder / "model.pth")
    a = load_checkpoint((tmp_path / "A" / "model.pth").as_uri())
    b = load_checkpoint((tmp_path / "B" / "model.pth").as_uri())
    assert (a["iteration"], a["class_names"]) == (1, ["A"])
    assert (b["iteration"], b["class_names"]) == (2, ["B"])
    assert cache_path((tmp_path / "A" / "model.pth").as_uri()) != cache_path((tmp_path / "B" / "model.pth").as_uri())


def test_a_wrong_hash_prefix_is_a_clear_error_and_nothing_is_cached(tmp_path):
    path = tmp_path / "ssd-deadbeef.pth"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert not digest.startswith("deadbeef")
    with pytest.raises(DownloadError) as err:
        load_checkpoint(path.as_uri())
    message = str(err.value)
    assert path.as_uri() in message and "'deadbeef'" in message and digest in message
    assert not os.path.exists(cache_path(path.as_uri()))


def test_a_matching_hash_prefix_is_cached_under_its_own_name(tmp_path):
    src = tmp_path / "weights.pth"
    torch.save({"w": torch.ones(3)}, src)
    named = tmp_path / f"weights-{hashlib.sha256(src.read_bytes()).hexdigest()[:8]}.pth"
    src.rename(named)
    local = download(named.as_uri(), progress=False)
    # torch hub's own place: files torchvision already downloaded are reused
    assert local == os.path.join(torch.hub.get_dir(), "checkpoints", named.name)
    named.unlink()
    assert download(named.as_uri(), progress=False) == local  # second call: from the cache


def test_an_unreachable_url_names_the_url_and_the_option_to_set(tmp_path):
    url = (tmp_path / "nowhere" / "model.pth").as_uri()
    with pytest.raises(DownloadError, match=rf"cannot download {url}: .*give its local path as --ckpt instead"):
        load_checkpoint(url)
