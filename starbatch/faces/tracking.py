"""Following the face through a clip: detect every few frames, hold the crop still while the face
stays near it, and glide the crop to where the face went when it moved.

A crop that followed every detection would jitter (Haar boxes wander a few percent from frame to
frame) and the edit would flicker; a crop fixed for the whole clip loses a face that walks away.
So the crop is held until a detection differs from it by more than MOVE_FRACTION of the face's
side, in place or in size, or by MOVE_DEGREES in turn (a tilted head's crop is turned upright,
turned_crop.py), and between two detections it moves linearly, frame by frame. A
detection that finds no face holds the crop where it was. Among several faces the one nearest the
held crop is followed, so the edit does not jump between people.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from starbatch.faces.detection import Detection, detect_faces

DETECT_EVERY_SECONDS = 0.5
MOVE_FRACTION = 0.12  # of the held face's side: smaller changes are detection noise, held still
MOVE_DEGREES = 5.0  # the same for the crop's turn (eye levelling wanders by a few degrees)

Frame = TypeVar("Frame")


@dataclass
class FaceTrack:
    """The face being followed: starts at the clip's face (the median over sampled frames)."""

    held: Detection

    def update(self, faces: list[Detection]) -> Detection:
        """The held face after one detection: the found face nearest to it, if it moved enough."""
        if not faces:
            return self.held
        nearest = min(faces, key=lambda face: _distance(face, self.held))
        moved = _distance(nearest, self.held) > MOVE_FRACTION * self.held.side
        resized = abs(nearest.side / self.held.side - 1) > MOVE_FRACTION
        turned = abs(nearest.turn - self.held.turn) > MOVE_DEGREES
        if moved or resized or turned:
            self.held = nearest
        return self.held


def detect_every(frame_rate: float | None) -> int:
    """Frames between detections: about DETECT_EVERY_SECONDS of the clip."""
    return max(1, round((frame_rate or 25.0) * DETECT_EVERY_SECONDS))


def follow_face(frames: Iterable[Frame], rgb_of, track: FaceTrack, every: int) -> Iterator[tuple[Frame, Detection]]:
    """Each frame with the face to crop around it, in order.

    The first frame, every `every`-th one and the last are searched (`rgb_of(frame)` gives its
    upright pixels); the frames between two searched ones wait in a buffer (at most `every` of
    them) for the second search, so their crop can move towards where it found the face."""
    waiting: list[Frame] = []
    start = track.held
    for index, frame in enumerate(frames):
        if index == 0:
            start = track.update(detect_faces(rgb_of(frame)))
        elif index % every == 0:
            end = track.update(detect_faces(rgb_of(frame)))
            yield from _glide(waiting, start, end)
            waiting, start = [], end
        waiting.append(frame)
    if len(waiting) > 1:  # the segment's last frame: glide the rest towards it
        end = track.update(detect_faces(rgb_of(waiting[-1])))
        yield from _glide(waiting[:-1], start, end)
        waiting, start = waiting[-1:], end
    yield from ((frame, start) for frame in waiting)


def _glide(frames: list[Frame], start: Detection, end: Detection) -> Iterator[tuple[Frame, Detection]]:
    for step, frame in enumerate(frames):
        t = step / len(frames)
        yield frame, Detection(*(float(a + (b - a) * t) for a, b in (
            (start.left, end.left), (start.top, end.top), (start.side, end.side), (start.turn, end.turn))))


def _distance(a: Detection, b: Detection) -> float:
    return float(np.hypot(a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]))
