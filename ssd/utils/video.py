"""Writing video that a browser plays: H.264 in MP4 (libx264, yuv420p, faststart), else VP9 in
WebM, through PyAV, which ships its encoders (OpenCV's ``mp4v`` is MPEG-4 Part 2, which no
browser decodes)."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

__all__ = ["BrowserVideoWriter", "browser_codec"]

# (encoder, container extension), in order of preference
_CODECS = (("libx264", ".mp4"), ("libvpx-vp9", ".webm"))


def browser_codec() -> tuple[str, str]:
    """``(encoder, extension)`` of the first browser-playable encoder PyAV has."""
    import av

    for name, ext in _CODECS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # noqa: BLE001 - PyAV raises UnknownCodecError or ValueError by version
            continue
        return name, ext
    raise RuntimeError(f"PyAV has none of the encoders {[n for n, _ in _CODECS]}: install a PyAV wheel with them")


class BrowserVideoWriter:
    """``writer.write(bgr)`` frame by frame, then ``close()`` (or use it as a context manager).

    ``path`` without extension: the codec's extension is added (``.mp4`` for H.264, ``.webm`` for
    VP9); :attr:`path` is the file written. Frames are uint8 ``[H, W, 3]`` BGR, all of one size;
    an odd width or height is padded by one edge pixel (4:2:0 chroma needs even sizes).
    """

    def __init__(self, path: str, *, fps: float) -> None:
        import av

        self.codec, ext = browser_codec()
        self.path = os.path.splitext(path)[0] + ext
        options = {"movflags": "+faststart"} if ext == ".mp4" else {}
        self._container = av.open(self.path, mode="w", options=options)
        self._fps = Fraction(fps if fps and fps > 0 else 25.0).limit_denominator(1001)
        self._stream = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def _open_stream(self, height: int, width: int) -> None:
        self._size = (height, width)
        self._stream = self._container.add_stream(self.codec, rate=self._fps)
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            self._stream.options = {"crf": "23", "preset": "veryfast"}

    def write(self, bgr: np.ndarray) -> None:
        import av

        if self._stream is None:
            self._open_stream(*bgr.shape[:2])
        if bgr.shape[:2] != self._size:
            raise ValueError(f"frame {self.frames} is {bgr.shape[:2]}, the video is {self._size}")
        h, w = bgr.shape[:2]
        if h % 2 or w % 2:
            bgr = np.pad(bgr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush and close; a video that got no frame is removed (an empty container plays nowhere)."""
        if self._stream is not None:
            for packet in self._stream.encode():  # flush the encoder's delayed frames
                self._container.mux(packet)
        self._container.close()
        if self._stream is None and os.path.exists(self.path):
            os.remove(self.path)

    def __enter__(self) -> BrowserVideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
