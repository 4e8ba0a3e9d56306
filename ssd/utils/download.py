"""The one download path: URL detection, a cache keyed by the whole URL, torch hub's hash check,
a progress bar, and errors that say what to do offline.

Every URL the framework reads (``--ckpt``, ``MODEL.WEIGHTS``, ``MODEL.BACKBONE.WEIGHTS``, the
converter's ``--input``) goes through :func:`download`.

Cache layout, under ``$TORCH_HOME/hub/checkpoints`` (torch hub's folder):

- a file name carrying a hash (torch hub's convention ``<name>-<sha256 prefix>.<ext>``, e.g.
  ``vgg16_features-amdegroot-88682ab5.pth``) is stored under that name, where torch hub and
  torchvision store it too: its content is named by its hash, so files torchvision already
  downloaded are reused;
- any other file goes to ``by-url/<sha256 of the URL, 16 hex>/<name>``: ``file:///A/model.pth``
  and ``file:///B/model.pth`` are two entries, never one.

A downloaded file whose name carries a hash is checked against it (sha256 must start with the
prefix); a mismatch raises :class:`DownloadError` and nothing is cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.parse

import torch

logger = logging.getLogger(__name__)

URL_SCHEMES = ("http", "https", "ftp", "file")
# torch.hub.HASH_REGEX: the first "-<hex>." in the file name is a sha256 prefix
HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")

__all__ = ["DownloadError", "cache_path", "default_cache_dir", "download", "hash_prefix", "is_url"]


class DownloadError(OSError):
    """A URL that could not be fetched, or whose content does not match the hash in its name."""


def is_url(spec: str) -> bool:
    """``True`` for ``http://``, ``https://``, ``ftp://`` and ``file://`` strings (the only
    schemes read as URLs; ``C:\\weights.pth`` and ``VGG16_Weights.X`` are not URLs)."""
    return isinstance(spec, str) and "://" in spec and urllib.parse.urlparse(spec).scheme in URL_SCHEMES


def default_cache_dir() -> str:
    """``$TORCH_HOME/hub/checkpoints`` (torch hub's), read at call time so ``TORCH_HOME`` set later counts."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def _file_name(url: str) -> str:
    return os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path)) or "download"


def hash_prefix(file_name: str) -> str | None:
    """The sha256 prefix a file name declares (torch hub's rule), or ``None`` when it declares none."""
    m = HASH_PREFIX.search(file_name)
    return m.group(1) if m and m.group(1) else None


def cache_path(url: str, *, cache_dir: str | None = None) -> str:
    """Where :func:`download` keeps ``url`` (see the module doc for the layout)."""
    cache_dir = cache_dir or default_cache_dir()
    name = _file_name(url)
    if hash_prefix(name):
        return os.path.join(cache_dir, name)
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return os.path.join(cache_dir, "by-url", key, name)


def download(url: str, *, cache_dir: str | None = None, progress: bool = True, option: str = "the path") -> str:
    """The local file for ``url``, downloaded on first use (with a progress bar) into the cache.

    ``option`` names the setting the user gave the URL in (``"--ckpt"``, ``"MODEL.BACKBONE.WEIGHTS"``)
    so an offline error can say what to set instead. Raises :class:`DownloadError` naming the URL
    when it cannot be fetched or its content does not match the hash prefix in its file name.
    """
    if not is_url(url):
        raise ValueError(f"not a URL: {url!r} (expected one of the schemes {URL_SCHEMES})")
    path = cache_path(url, cache_dir=cache_dir)
    if os.path.isfile(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    expected = hash_prefix(_file_name(url))
    logger.info("downloading %s to %s", url, path)
    try:
        torch.hub.download_url_to_file(url, path, hash_prefix=expected, progress=progress)
    except RuntimeError as e:  # torch hub's "invalid hash value" (the partial file is already removed)
        if "hash" not in str(e):
            raise
        raise DownloadError(
            f"{url}: the file name promises a sha256 starting with {expected!r} (torch hub's "
            f"<name>-<hash>.pth convention) but the downloaded content does not match ({e}); "
            "the file is corrupt or not the one named: nothing was cached"
        ) from None
    except OSError as e:  # URLError, HTTPError, connection errors, a missing file:// target
        raise DownloadError(
            f"cannot download {url}: {e}. Without internet access, copy the file to this machine and "
            f"give its local path as {option} instead (or put it at {path})"
        ) from e
    return path
