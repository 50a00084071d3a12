"""One reader interface for every video source: files through decord (PyAV where decord fails), image folders.

`open_video(path)` returns a `VideoReader` that streams uint8 RGB frames in chunks, so memory stays flat
whatever the video's length. Backends are tried in the order of `READERS`; the first that accepts the path and
opens it wins. A missing, empty, truncated or unreadable source is a `DataError` naming the file and the
problem, never a backend's own exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import DataError

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


def _declared_frames(path: Path) -> int | None:
    """Frame count the container header declares (None when it declares none): the truncation reference."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            rate = float(stream.average_rate or 0)
            duration = container.duration / 1e6 if container.duration else 0.0
            return round(duration * rate) if rate > 0 and duration > 0 else None
    except Exception:  # noqa: BLE001 - a header PyAV cannot parse declares nothing; decoding decides
        return None


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


class DecordReader(VideoReader):
    """Video files through decord (fast, frame-accurate random access)."""

    backend = "decord"

    def __init__(self, path: Path, fps: float | None = None):
        decord = import_decord()
        self.path = path
        try:
            self._vr = decord.VideoReader(str(path), ctx=decord.cpu(0))
            self.num_frames = len(self._vr)
            self.fps = float(self._vr.get_avg_fps())
            # get_batch, not vr[0]: decord's batch copy fails on some frame sizes (e.g. 16 px wide) that
            # its single-frame path reads; trying it here hands such files to the next backend.
            first_shape = self._vr.get_batch([0]).shape[1:] if self.num_frames else (0, 0, 3)
        except Exception as err:  # noqa: BLE001 - decord raises RuntimeError / DECORDError / TVMError alike
            raise BackendCannotOpen(f"decord: {_short(err)}") from None
        _check_count(path, self.num_frames, _declared_frames(path))
        if not self.fps > 0:
            self.fps = fps or DEFAULT_IMAGE_FPS
        self.height, self.width = int(first_shape[0]), int(first_shape[1])

    def _chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[np.ndarray]:
        for first in range(start, stop, chunk_size):
            last = min(first + chunk_size, stop)
            try:
                chunk = self._vr.get_batch(list(range(first, last))).asnumpy()
            except Exception as err:  # noqa: BLE001 - wrap decord's errors into one named error
                raise DataError(
                    self.path, f"cannot decode frames {first}-{last - 1}: {_short(err)}"
                ) from None
            yield self._check_shape(chunk, first)

    def close(self) -> None:
        self.__dict__.pop("_vr", None)


class PyAVReader(VideoReader):
    """Video files through PyAV/FFmpeg, for codecs decord cannot open (AV1). Decodes sequentially."""

    backend = "pyav"

    def __init__(self, path: Path, fps: float | None = None):
        import av

        self.path = path
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise DataError(path, "file has no video stream")
                stream = container.streams.video[0]
                rate = float(stream.average_rate or 0)
                self.fps = rate if rate > 0 else (fps or DEFAULT_IMAGE_FPS)
                self.height, self.width = int(stream.codec_context.height), int(stream.codec_context.width)
                # Counting packets demuxes without decoding: cheap, and exact where headers lie.
                self.num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - av.error.* and OSError alike
            raise BackendCannotOpen(f"pyav: {_short(err)}") from None
        _check_count(path, self.num_frames, _declared_frames(path))

    def _chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[np.ndarray]:
        import av

        buffer: list[np.ndarray] = []
        index = 0
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    if index >= stop:
                        break
                    if index >= start:
                        buffer.append(frame.to_ndarray(format="rgb24"))
                        if len(buffer) == chunk_size:
                            yield self._check_shape(np.stack(buffer), index + 1 - chunk_size)
                            buffer = []
                    index += 1
        except Exception as err:  # noqa: BLE001 - wrap FFmpeg errors into one named error
            if isinstance(err, DataError):
                raise
            raise DataError(self.path, f"cannot decode frame {index}: {_short(err)}") from None
        if buffer:
            yield self._check_shape(np.stack(buffer), index - len(buffer))
        if index < stop:
            raise DataError(self.path, f"video ended after {index} frames, expected {stop}")


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
    ReaderEntry("decord", Path.is_file, DecordReader),
    ReaderEntry("pyav", Path.is_file, PyAVReader),
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
