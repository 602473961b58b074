"""A clip's edit written in parts, so that a rerun after an interruption resumes it.

The in-process `video` encodes the clip in parts of about PART_SECONDS, each its own MP4 in a hidden
folder beside the output (`.NAME.EXT.parts/`), renamed into place only when complete. A rerun with
the same settings (the run record's, stored in the folder) keeps the finished parts: it decodes and
follows the faces through their frames again (the follower's state at a part's start is what the
first run had there, so the result is the uninterrupted run's) and edits and encodes only the rest.
The parts are joined into the output as the Ray engine's segments are, and the folder removed.
The Ray engine keeps its keyframe segments there the same way (SegmentParts), each as it arrives.
"""

import json
import math
import shutil
from pathlib import Path

import av

from starbatch.files import write_atomically
from starbatch.media.video import EncodeSettings, SegmentWriter, VideoInfo, encodes_as_decoded

PART_SECONDS = 30.0  # an interruption loses at most this much edited video
RECORD = "settings.json"


def parts_folder(output: Path) -> Path:
    return output.with_name(f".{output.name}.parts")


def part_frames(info: VideoInfo) -> int:
    rate = float(info.average_rate) if info.average_rate else 25.0
    return max(1, round(PART_SECONDS * rate))


def _settled_folder(output: Path, settings: dict | None) -> Path:
    """The output's parts folder, emptied unless an earlier run with `settings` made it (None: always)."""
    folder = parts_folder(output)
    try:
        earlier = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        earlier = None
    if settings is None or earlier != settings:  # another run's, or none: start again
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        if settings is not None:
            write_atomically(folder / RECORD, (json.dumps(settings, sort_keys=True) + "\n").encode())
    return folder


class ClipParts:
    """The parts folder of one output: what an earlier run with these settings finished, and the
    writer of the rest."""

    def __init__(self, output: Path, info: VideoInfo, settings: dict | None):
        """`settings`: what makes the output (the run record's); None: nothing is resumed."""
        self.info, self.per_part = info, part_frames(info)
        self.count = math.ceil(info.frame_count / self.per_part)
        self.folder = _settled_folder(output, settings and {**settings, "part_frames": self.per_part})
        self.finished = 0
        while self.finished < self.count and self.path(self.finished).is_file():
            self.finished += 1

    def path(self, index: int) -> Path:
        return self.folder / f"part_{index:05d}.mp4"

    @property
    def done_frames(self) -> int:
        """Frames the finished parts hold (the first frames of the clip)."""
        return min(self.info.frame_count, self.finished * self.per_part)

    def all(self) -> list[Path]:
        """The finished parts in order (as written: the decoder, not the probe, says how many frames)."""
        return sorted(self.folder.glob("part_[0-9][0-9][0-9][0-9][0-9].mp4"))

    def writer(self, settings: EncodeSettings) -> "PartWriter":
        return PartWriter(self, settings)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PartWriter:
    """SegmentWriter's interface over the parts not yet finished: frames from `done_frames` on, a
    new part every `per_part` frames, each renamed into place once complete."""

    def __init__(self, parts: ClipParts, settings: EncodeSettings):
        self.parts, self.settings = parts, settings
        self.frames = parts.done_frames  # the clip's frames accounted for, the finished parts' included
        self.index, self.current = parts.finished, None

    def write(self, rgb, pts: int, duration: int | None) -> None:
        self._ready().write(rgb, pts, duration)
        self.frames += 1

    def takes_as_decoded(self, frame: av.VideoFrame) -> bool:
        return encodes_as_decoded(frame, self.parts.info, self.settings.resolved_codec())

    def write_decoded(self, decoded: av.VideoFrame, pts: int, duration: int | None) -> None:
        self._ready().write_decoded(decoded, pts, duration)
        self.frames += 1

    def _ready(self) -> SegmentWriter:
        if self.current is not None and self.frames >= (self.index + 1) * self.parts.per_part:
            self._finish()
            self.index += 1
        if self.current is None:
            self.current = SegmentWriter(self._partial(), self.parts.info, self.settings, self.frames)
        return self.current

    def _partial(self) -> Path:
        return self.parts.path(self.index).with_suffix(".partial.mp4")

    def _finish(self) -> None:
        self.current.close()
        self.current = None
        self._partial().replace(self.parts.path(self.index))

    def close(self) -> None:
        """The last part completed (after the clip's last frame)."""
        if self.current is not None:
            self._finish()

    def abandon(self) -> None:
        """An interrupted part is dropped; the finished ones stay for the rerun."""
        if self.current is not None:
            try:
                self.current.close()
            except Exception:  # noqa: BLE001 - the part is deleted either way
                pass
            self.current = None
        self._partial().unlink(missing_ok=True)
        if not self.parts.path(0).is_file():  # nothing finished: nothing to keep
            self.parts.remove()


class SegmentParts:
    """The Ray engine's keyframe segments, each kept as it arrives (its MP4 and what its edit did),
    so that a rerun with the same settings and the same segments edits only the others."""

    def __init__(self, output: Path, settings: dict | None, segments: list):
        bounds = [[segment.start, segment.end] for segment in segments]
        self.folder = _settled_folder(output, settings and {**settings, "segments": bounds})

    def _paths(self, index: int) -> tuple[Path, Path]:
        return self.folder / f"segment_{index:05d}.mp4", self.folder / f"segment_{index:05d}.json"

    def finished(self, index: int) -> bool:
        return self._paths(index)[1].is_file()  # written after its MP4

    def save(self, index: int, data: bytes, result: dict) -> None:
        video, done = self._paths(index)
        write_atomically(video, data)
        write_atomically(done, json.dumps(result).encode())

    def load(self, index: int) -> tuple[Path, dict]:
        video, done = self._paths(index)
        return video, json.loads(done.read_text())

    def any(self) -> bool:
        return any(self.folder.glob("segment_*.json"))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
