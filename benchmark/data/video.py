"""One reader interface for every video source: video files (PyAV and decord) and folders of image frames.

`open_video(path)` returns a `VideoReader` that streams uint8 RGB frames in chunks, so memory stays flat
whatever the video's length, and reads random-access windows. Readers are tried in the order of `READERS`; the
first that accepts the path and opens it wins. A missing, empty, truncated or unreadable source is a
`DataError` naming the file and the problem, never a backend's own exception.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_IMAGE_FPS = 30.0
# A container that declares more frames than can be read by more than this is truncated.
TRUNCATION_TOLERANCE = (2, 0.02)  # (frames, fraction of the declared count)


class BackendCannotOpen(Exception):
    """A backend cannot handle this source (codec, format); the next backend in READERS is tried."""


class VideoReader:
    """Streaming access to the frames of one video.

    Attributes:
        path: the video file or image folder.
        fps: frame rate (from the container; for image folders, the caller's value or DEFAULT_IMAGE_FPS).
        num_frames: number of readable frames.
        height, width: frame size in pixels.
    """

    backend = ""
    path: Path
    fps: float
    num_frames: int
    height: int
    width: int

    def iter_chunks(
        self, chunk_size: int = 256, start: int = 0, stop: int | None = None
    ) -> Iterator[np.ndarray]:
        """Frames start..stop-1 as uint8 RGB arrays [n, H, W, 3] of at most chunk_size frames each."""
        start, stop = self._bounds(start, stop)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        yield from self._chunks(chunk_size, start, stop)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames start..stop-1 in one array [n, H, W, 3]: for short clips; stream whole videos."""
        start, stop = self._bounds(start, stop)
        out = np.empty((stop - start, self.height, self.width, 3), dtype=np.uint8)
        pos = 0
        for chunk in self._chunks(256, start, stop):
            out[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
        if pos != len(out):
            raise DataError(self.path, f"expected {len(out)} frames from {start} but read {pos}")
        return out

    def close(self) -> None:
        """Releases the backend's handles (readers also close when garbage collected)."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, fps={self.fps:.3f}, frames={self.num_frames}, "
            f"{self.width}x{self.height})"
        )

    def _bounds(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.num_frames if stop is None else stop
        if not (0 <= start <= stop <= self.num_frames):
            raise IndexError(f"{self.path}: frame range [{start}, {stop}) outside [0, {self.num_frames})")
        return start, stop

    def _chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def _check_shape(self, chunk: np.ndarray, first: int) -> np.ndarray:
        if chunk.ndim != 4 or chunk.shape[1:] != (self.height, self.width, 3):
            raise DataError(
                self.path,
                f"frame {first} has shape {chunk.shape[1:]}, expected {(self.height, self.width, 3)}",
            )
        return chunk


def _check_count(path: Path, readable: int, declared: int | None) -> None:
    if readable <= 0:
        raise DataError(path, "video has zero frames")
    if declared is None:
        return
    frames, fraction = TRUNCATION_TOLERANCE
    if declared - readable > max(frames, fraction * declared):
        raise DataError(
            path,
            f"truncated or corrupt video: the header declares {declared} frames but only {readable} "
            "are readable",
        )


def import_decord():
    """decord, imported after cv2: decord bundles an old zlib that, when loaded first, breaks OpenCV's PNG
    reading for the whole process ("libpng error: bad parameters to zlib"). Import decord through here."""
    import cv2  # noqa: F401 - load order matters, see above
    import decord

    return decord


class VideoFileReader(VideoReader):
    """Video files: PyAV streams them in order, decord serves random-access windows.

    Why two decoders: decord 0.6.0 decodes ahead in a background thread without bound, so its memory grows
    with the video's length whenever the consumer is slower than decoding (face detection is). Measured
    with a 3 ms/frame consumer on 640x480 H.264 (bench/video_reader_memory.py): get_batch peaked at 1.2 GB
    for 60 s and 2.4 GB for 300 s, PyAV at 208 MiB for both. Sequential passes (iter_chunks) therefore use
    PyAV with frame threading; `read(start, stop)` uses decord's frame-accurate get_batch, then seeks back
    to halt its read-ahead, and falls back to PyAV where decord cannot open the file (AV1) or copy its
    frames (tiny sizes). Both decode these codecs to identical pixels (tested).
    """

    backend = "file"

    def __init__(self, path: Path, fps: float | None = None):
        import av

        self.path = path
        self._vr = None
        self._decord_ok = True
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise DataError(path, "file has no video stream")
                stream = container.streams.video[0]
                rate = float(stream.average_rate or 0)
                self.fps = rate if rate > 0 else (fps or DEFAULT_IMAGE_FPS)
                self.height, self.width = int(stream.codec_context.height), int(stream.codec_context.width)
                declared = int(stream.frames) if stream.frames else None
                if declared is None and rate > 0 and container.duration:
                    declared = round(container.duration / 1e6 * rate)
                # Counting packets demuxes without decoding: cheap, exact where headers lie, and it is
                # what reveals a truncated file whose header still declares the full length.
                self.num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - av.error.* and OSError alike
            raise BackendCannotOpen(f"{_short(err)}") from None
        _check_count(path, self.num_frames, declared)

    def _chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[np.ndarray]:
        import av

        index, filled = 0, 0
        chunk = np.empty((min(chunk_size, stop - start), self.height, self.width, 3), np.uint8)
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    if index >= stop:
                        break
                    if index >= start:  # frames before start are decoded but not converted
                        chunk[filled] = self._check_shape(frame.to_ndarray(format="rgb24")[None], index)[0]
                        filled += 1
                        if filled == len(chunk):
                            yield chunk
                            chunk = np.empty((min(chunk_size, stop - index - 1), *chunk.shape[1:]), np.uint8)
                            filled = 0
                    index += 1
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - wrap FFmpeg errors into one named error
            raise DataError(self.path, f"cannot decode frame {index}: {_short(err)}") from None
        if index < stop:
            raise DataError(self.path, f"video ended after {index} frames, expected {stop}")

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames start..stop-1 [n, H, W, 3], frame-accurate without decoding from the start (decord)."""
        start, stop = self._bounds(start, stop)
        frames = self._decord_batch(start, stop)
        return frames if frames is not None else super().read(start, stop)

    def _decord_batch(self, start: int, stop: int) -> np.ndarray | None:
        if not self._decord_ok or stop == start:
            return None
        try:
            if self._vr is None:
                decord = import_decord()
                self._vr = decord.VideoReader(str(self.path), ctx=decord.cpu(0))
                if len(self._vr) != self.num_frames:
                    raise ValueError(f"decord sees {len(self._vr)} frames, PyAV {self.num_frames}")
            frames = self._vr.get_batch(list(range(start, stop))).asnumpy()
            self._vr.seek(0)  # halts the background read-ahead until the next read
        except Exception as err:  # noqa: BLE001 - decord raises RuntimeError / DECORDError alike
            logger.debug("%s: decord unavailable (%s); PyAV decodes instead", self.path, _short(err))
            self._decord_ok, self._vr = False, None
            return None
        return self._check_shape(frames, start)

    def close(self) -> None:
        self._vr = None


def _frame_number(path: Path) -> int:
    digits = re.findall(r"\d+", path.stem)
    if not digits:
        raise DataError(path, "image frame name carries no frame number")
    return int(digits[-1])


def list_frame_images(folder: Path) -> list[Path]:
    """Image frames of a folder sorted by the number in their names (Image<ns>.png, frame_00012.jpg...)."""
    files = [p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=_frame_number)


class ImageFolderReader(VideoReader):
    """A folder of PNG/JPG frames (the PURE layout), read with OpenCV."""

    backend = "images"

    def __init__(self, path: Path, fps: float | None = None):
        self.path = path
        self._files = list_frame_images(path)
        self.num_frames = len(self._files)
        if not self._files:
            raise DataError(path, f"folder holds no image frames ({', '.join(IMAGE_SUFFIXES)})")
        self.fps = float(fps) if fps else DEFAULT_IMAGE_FPS
        first = self._load(0)
        self.height, self.width = first.shape[:2]

    @property
    def files(self) -> list[Path]:
        return list(self._files)

    def _load(self, index: int) -> np.ndarray:
        import cv2

        image = cv2.imread(str(self._files[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(self._files[index], "image frame is unreadable or corrupt")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def _chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[np.ndarray]:
        for first in range(start, stop, chunk_size):
            last = min(first + chunk_size, stop)
            frames = [self._load(i) for i in range(first, last)]
            for i, frame in enumerate(frames):
                if frame.shape != (self.height, self.width, 3):
                    raise DataError(
                        self._files[first + i],
                        f"frame size {frame.shape[:2]} differs from the first "
                        f"frame's {(self.height, self.width)}",
                    )
            yield np.stack(frames)


@dataclass(frozen=True)
class ReaderEntry:
    name: str
    accepts: Callable[[Path], bool]
    open: Callable[[Path, float | None], VideoReader]


# Tried in order; a backend raising BackendCannotOpen hands over to the next one that accepts the path.
READERS: list[ReaderEntry] = [
    ReaderEntry("file", Path.is_file, VideoFileReader),
    ReaderEntry("images", Path.is_dir, ImageFolderReader),
]


def open_video(path: str | Path, fps: float | None = None) -> VideoReader:
    """A reader for a video file or a folder of image frames.

    Args:
        path: video file (any container/codec FFmpeg reads) or folder of numbered PNG/JPG frames.
        fps: frame rate for sources that carry none (image folders); a container's own rate wins.

    Raises:
        DataError: the path is missing, holds no frames, is truncated, or no backend can read it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "video not found")
    problems = []
    for entry in READERS:
        if not entry.accepts(path):
            continue
        try:
            return entry.open(path, fps)
        except BackendCannotOpen as err:
            problems.append(str(err))
    detail = "; ".join(problems) or "not a regular file or folder"
    raise DataError(path, f"unreadable or corrupt video ({detail})")


def probe_video(path: str | Path, fps: float | None = None) -> tuple[float, int]:
    """(fps, frame count) of a video without decoding it (adapters use this to fill recordings)."""
    with open_video(path, fps) as reader:
        return reader.fps, reader.num_frames


def _short(err: BaseException, limit: int = 200) -> str:
    """First line of a backend error, without decord's C++ source location noise."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)
    return text[:limit]
