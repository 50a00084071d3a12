"""One reader interface for every video source: video files (PyAV and decord) and folders of image frames.

`open_video(path)` returns a `VideoReader` that streams uint8 RGB frames in chunks, so memory stays flat
whatever the video's length, and reads random-access windows. Readers are tried in the order of `READERS`; the
first that accepts the path and opens it wins. A missing, empty, truncated or unreadable source is a
`DataError` naming the file and the problem, never a backend's own exception.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import DataError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_IMAGE_FPS = 30.0
# A container that declares more frames than can be read by more than this is truncated.
TRUNCATION_TOLERANCE = (2, 0.02)  # (frames, fraction of the declared count)
# FFmpeg decoding threads per video (0: FFmpeg's choice, one per core); worker processes that each decode a
# recording of their own set it lower (benchmark.data.preprocess.preprocess_many).
DECODE_THREADS = {"n": 0}


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

    def iter_frame_chunks(
        self, chunk_size: int = 256, start: int = 0, stop: int | None = None
    ) -> Iterator[FrameChunk]:
        """Like iter_chunks, as FrameChunks: frames that a consumer converts to RGB only where it needs to
        (video files in planar 4:2:0 or packed RGB stay as decoded), pixel-identical to iter_chunks."""
        start, stop = self._bounds(start, stop)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        yield from self._frame_chunks(chunk_size, start, stop)

    def _frame_chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[FrameChunk]:
        for chunk in self._chunks(chunk_size, start, stop):
            yield RGBChunk(chunk)

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


class FrameChunk:
    """Consecutive decoded frames that become RGB only where they are asked for: `rgb(i)` is frame i and
    `region(i, x0, y0, w, h)` a window of it, each pixel-identical to what `iter_chunks` yields for that
    frame. The face stage converts a whole frame only where it detects (every 30 frames) and otherwise just
    the face window, so most of each frame is never converted to RGB."""

    height: int
    width: int

    def __len__(self) -> int:
        raise NotImplementedError

    def rgb(self, i: int) -> np.ndarray:
        """Frame i as uint8 RGB [H, W, 3]."""
        raise NotImplementedError

    def region(self, i: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        """rgb(i)[y0:y0+h, x0:x0+w] (the window must lie inside the frame)."""
        return self.rgb(i)[y0 : y0 + h, x0 : x0 + w]

    def to_rgb(self) -> np.ndarray:
        """All frames as uint8 RGB [n, H, W, 3]."""
        out = np.empty((len(self), self.height, self.width, 3), np.uint8)
        for i in range(len(self)):
            out[i] = self.rgb(i)
        return out


class RGBChunk(FrameChunk):
    """Frames already in RGB (image folders, pixel formats without a window path)."""

    def __init__(self, frames: np.ndarray):
        self.frames = frames
        self.height, self.width = frames.shape[1:3]

    def __len__(self) -> int:
        return len(self.frames)

    def rgb(self, i: int) -> np.ndarray:
        return self.frames[i]

    def region(self, i: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        return self.frames[i, y0 : y0 + h, x0 : x0 + w]

    def to_rgb(self) -> np.ndarray:
        return self.frames


class PackedRGBChunk(FrameChunk):
    """Frames in a packed 8-bit RGB layout as decoded (FFV1 bgr0 masters, as MMPD's copies): RGB is a
    reorder. `data` holds one [H, W, bytes per pixel] array per frame."""

    def __init__(self, data: Sequence[np.ndarray], order: tuple[int, int, int]):
        self.data, self.order = data, list(order)
        self.height, self.width = data[0].shape[:2]

    def __len__(self) -> int:
        return len(self.data)

    def rgb(self, i: int) -> np.ndarray:
        return self.data[i][..., self.order]

    def region(self, i: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        return self.data[i][y0 : y0 + h, x0 : x0 + w][..., self.order]


class YUV420Chunk(FrameChunk):
    """Frames kept planar 4:2:0 as decoded (H.264, HEVC, MPEG-4: 1.5 bytes a pixel instead of RGB's 3);
    `y`, `u`, `v` hold one plane array per frame.

    A window converts through the converter `frame.to_ndarray(format="rgb24")` uses (FFmpeg's swscale),
    widened to even rows and to multiples of 16 columns so that chroma samples and the converter's vector
    blocks fall as they do in the whole frame. The reader checks the identity on each pass's first frame.
    """

    def __init__(self, fmt: str, y: Sequence[np.ndarray], u: Sequence[np.ndarray], v: Sequence[np.ndarray],
                 tags: list[tuple[int, int]]):  # fmt: skip
        self.format, self.y, self.u, self.v, self.tags = fmt, y, u, v, tags
        self.height, self.width = y[0].shape
        self._sws: dict[int, object] = {}  # thread id -> converter (detection and cropping may run in two)

    def __len__(self) -> int:
        return len(self.tags)

    def rgb(self, i: int) -> np.ndarray:
        return self._convert(i, 0, 0, self.width, self.height)

    def region(self, i: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        ax0, ay0 = x0 - x0 % 16, y0 - y0 % 2
        ax1 = min(self.width, -(-(x0 + w) // 16) * 16)
        ay1 = min(self.height, y0 + h + (y0 + h) % 2)
        rgb = self._convert(i, ax0, ay0, ax1 - ax0, ay1 - ay0)
        return rgb[y0 - ay0 : y0 - ay0 + h, x0 - ax0 : x0 - ax0 + w]

    def _convert(self, i: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        """RGB of the window at even (x0, y0) with even w, h (or reaching the frame's edge)."""
        import av
        from av.video.reformatter import VideoReformatter

        frame = av.VideoFrame(w, h, self.format)
        cx, cy, cw, ch = x0 // 2, y0 // 2, (w + 1) // 2, (h + 1) // 2
        sources = (self.y[i][y0 : y0 + h, x0 : x0 + w], self.u[i][cy : cy + ch, cx : cx + cw])
        sources += (self.v[i][cy : cy + ch, cx : cx + cw],)
        for plane, source in zip(frame.planes, sources):
            plane_rows(plane, 1)[:] = source
        frame.colorspace, frame.color_range = self.tags[i]
        # one converter per chunk and thread: a new one per frame costs more than converting, and a converter
        # is not safe to share between threads
        thread = threading.get_ident()
        if thread not in self._sws:
            self._sws[thread] = VideoReformatter()
        return self._sws[thread].reformat(frame, format="rgb24", threads=1).to_ndarray()


def plane_rows(plane, channels: int) -> np.ndarray:
    """uint8 view [rows, width * channels] of one plane of a PyAV frame, without its row padding."""
    pitch = abs(plane.line_size)
    rows = np.frombuffer(plane, np.uint8, count=pitch * plane.height).reshape(plane.height, pitch)
    return rows[:, : plane.width * channels]


# Pixel formats decoded into FrameChunks without converting whole frames: planar 4:2:0 (a window converts
# through swscale) and packed RGB (RGB is a channel reorder: bytes per pixel, R, G, B byte offsets).
YUV420_FORMATS = ("yuv420p", "yuvj420p")
PACKED_RGB_FORMATS = {
    "rgb24": (3, (0, 1, 2)),
    "bgr24": (3, (2, 1, 0)),
    "rgb0": (4, (0, 1, 2)),
    "bgr0": (4, (2, 1, 0)),
    "rgba": (4, (0, 1, 2)),
    "bgra": (4, (2, 1, 0)),
}


class _FrameBuffer:
    """Collects one FrameChunk from PyAV frames of one pixel format and size. It holds views of the decoded
    frames' planes, not copies: a frame's buffer stays alive (FFmpeg counts references) as long as a view of
    it does, and copying every plane of every frame cost ~5% of a preprocessing build's CPU."""

    def __init__(self, fmt: str, n: int):
        self.format, self.n, self.filled = fmt, n, 0
        if fmt in YUV420_FORMATS:
            self.planes: list[list[np.ndarray]] = [[], [], []]
            self.channels = [1, 1, 1]
            self.tags: list[tuple[int, int]] = []
        else:
            depth, self.order = PACKED_RGB_FORMATS[fmt]
            self.planes = [[]]
            self.channels = [depth]
            self.depth = depth

    def add(self, frame) -> None:
        for target, plane, channels in zip(self.planes, frame.planes, self.channels):
            target.append(plane_rows(plane, channels))
        if self.format in YUV420_FORMATS:
            self.tags.append((frame.colorspace, frame.color_range))
        self.filled += 1

    def chunk(self) -> FrameChunk:
        if self.format in YUV420_FORMATS:
            return YUV420Chunk(self.format, *self.planes, self.tags)
        return PackedRGBChunk(
            [rows.reshape(len(rows), -1, self.depth) for rows in self.planes[0]], self.order
        )


def window_path_holds(frame, expected: np.ndarray) -> bool:
    """True when FrameChunk conversion of `frame` (whole, and windows at odd places) gives `expected`
    (its `to_ndarray(format="rgb24")`): checked on the first frame of every pass, so a pixel format or
    converter that would not be identical falls back to whole-frame RGB instead of changing pixels."""
    h, w = expected.shape[:2]
    buffer = _FrameBuffer(frame.format.name, 1)
    buffer.add(frame)
    chunk = buffer.chunk()
    if not np.array_equal(chunk.rgb(0), expected):
        return False
    windows = [(1, 1, w - 2, h - 2), (w // 3 + 1, h // 5 + 1, w // 2 - 1, h // 2 + 1), (w - 3, h - 3, 3, 3)]
    for x0, y0, ww, hh in windows:
        if ww > 0 and hh > 0:
            if not np.array_equal(chunk.region(0, x0, y0, ww, hh), expected[y0 : y0 + hh, x0 : x0 + ww]):
                return False
    return True


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
    # FFmpeg decoding threads of this reader's passes (None: DECODE_THREADS). A caller whose own stages run
    # in threads beside the decoder (the preprocessing pipeline) sets fewer: frame threading spends more CPU
    # a frame than one thread, which it would take from those stages.
    decode_threads: int | None = None

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

    def _decoded(self, start: int, stop: int):
        """(index, PyAV frame) of frames start..stop-1 in order (earlier frames are decoded, not yielded);
        FFmpeg's errors become a DataError naming the frame."""
        import av

        index = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                threads = self.decode_threads or DECODE_THREADS["n"]
                if threads:
                    stream.codec_context.thread_count = threads
                frames = container.decode(stream)
                while index < stop:
                    frame = next(frames, None)
                    if frame is None:
                        break
                    if index >= start:
                        yield index, frame
                    index += 1
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - wrap FFmpeg errors into one named error
            raise DataError(self.path, f"cannot decode frame {index}: {_short(err)}") from None
        if index < stop:
            raise DataError(self.path, f"video ended after {index} frames, expected {stop}")

    def _chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[np.ndarray]:
        for chunk in self._decode_chunks(chunk_size, start, stop, windows=False):
            yield chunk.to_rgb()

    def _frame_chunks(self, chunk_size: int, start: int, stop: int) -> Iterator[FrameChunk]:
        yield from self._decode_chunks(chunk_size, start, stop, windows=True)

    def _decode_chunks(self, chunk_size: int, start: int, stop: int, windows: bool) -> Iterator[FrameChunk]:
        """One decoding loop for both: RGBChunks, or (`windows`) frames kept in their decoded layout when
        the pass's first frame shows that windows of it convert to the same pixels (window_path_holds)."""
        from av.video.reformatter import VideoReformatter

        sws = VideoReformatter()  # one converter for the pass: a new one per frame costs more than converting
        fast, first_format, buffer, rgb, filled = None, None, None, None, 0
        for index, frame in self._decoded(start, stop):
            try:
                if (frame.height, frame.width) != (self.height, self.width):
                    raise DataError(
                        self.path,
                        f"frame {index} has shape {(frame.height, frame.width, 3)}, "
                        f"expected {(self.height, self.width, 3)}",
                    )
                name = frame.format.name
                if fast is None:
                    first_format = name
                    fast = windows and name in (*YUV420_FORMATS, *PACKED_RGB_FORMATS)
                    fast = fast and window_path_holds(
                        frame, sws.reformat(frame, format="rgb24", threads=1).to_ndarray()
                    )
                    if windows and not fast:
                        logger.debug("%s: %s frames are converted whole", self.path, name)
                if fast and name != first_format:
                    fast = False  # the pixel format changed mid-stream: whole frames from here on
                    if buffer is not None:
                        yield buffer.chunk()
                        buffer = None
                if fast:
                    if buffer is None:
                        buffer = _FrameBuffer(name, min(chunk_size, stop - index))
                    buffer.add(frame)
                    if buffer.filled == buffer.n:
                        yield buffer.chunk()
                        buffer = None
                    continue
                if rgb is None:
                    rgb = np.empty((min(chunk_size, stop - index), self.height, self.width, 3), np.uint8)
                rgb[filled] = sws.reformat(frame, format="rgb24", threads=1).to_ndarray()
            except DataError:
                raise
            except Exception as err:  # noqa: BLE001 - a frame FFmpeg cannot convert
                raise DataError(self.path, f"cannot decode frame {index}: {_short(err)}") from None
            filled += 1
            if filled == len(rgb):
                yield RGBChunk(rgb)
                rgb, filled = None, 0
        if buffer is not None and buffer.filled:
            yield buffer.chunk()
        if rgb is not None and filled:
            yield RGBChunk(rgb[:filled])

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
