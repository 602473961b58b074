"""Following faces through a clip: a detector pass every few frames, each face's crop a smoothed
similarity transform, and edits that fade out and in where a face leaves or appears.

Each face followed is a track holding its crop: the similarity transform from the model's square to
the frame (crop -> photo, whose entries are linear in rotation-and-scale and shift, so blending two
of them gives a similarity between them). Between two detector passes the crop glides linearly from
the one held to the one the second pass found; a new crop that moves the crop's corners by less
than HOLD of its side on average is landmark noise, and the held crop stays still.

A face a pass no longer finds (a cut, a face walking out) is looked for in the frames between the
two passes by bisection (detector passes on the buffered frames), so its last frame is known: its
edit fades out over the FADE frames up to it and is gone from the next one, never held over a
picture without the face. A face found that no track held is looked for backwards the same way,
and its edit fades in from its first frame. Either way the crop glides to (from) where the face was
found in that last (first) frame. A face found far from its track's crop (JUMP) is checked in the
middle frame: a cut to another face nearby ends one track and starts another instead of gliding
between them. Faces that are there in the first frame are edited at once. Frames with no face pass
through unchanged.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from starbatch.faces import alignment
from starbatch.faces.detection import FaceCrop
from starbatch.faces.pixel_aspect import SQUARE, Scale, detector_as_shown, in_stored_pixels
from starbatch.faces.retinaface import Face

DETECT_EVERY_SECONDS = 0.5
HOLD = 0.02  # of the crop's side: mean corner movement below this is noise, the crop holds still
FADE = 4  # frames an edit takes to fade in or out
SAME_FACE = 1.0  # crop sides: a face this close to a track's crop a pass later (of about its size) is its face
SAME_SIZE = 1.5  # the largest size ratio between a track's crop and its face's next crop
# A face found a pass later more than JUMP crop sides from its track's crop moved fast or is another
# face after a cut (a film's shot of another face nearby): the window's middle frame is searched, and
# unless a face is there within a quarter of the jump of where a glide would put it, it is a cut: the
# track ends where no face is within half the jump of its crop, and the new face's track starts
# (a glide would paint the edit across the picture between the two for up to half a second: OpenCV's
# Megamind.avi: its crop 0.8-1.2 face widths off the face in the frames searched after a cut).
JUMP = 0.25

Frame = TypeVar("Frame")


@dataclass
class Track:
    """One face followed: its held crop (crop -> photo), the last detection of it, and the first and
    last frames it is known to be in (None: not known to end)."""

    back: np.ndarray
    face: Face
    first: int
    last: int | None = None

    def weight(self, index: int) -> float:
        """The edit's strength at frame `index`: fading in after `first`, out before `last`."""
        weight = min(1.0, (index - self.first + 1) / (FADE + 1)) if self.first > 0 else 1.0
        if self.last is not None:
            weight = min(weight, (self.last - index + 1) / (FADE + 1))
        return max(0.0, weight)


def detect_every(frame_rate: float | None) -> int:
    """Frames between detector passes: about DETECT_EVERY_SECONDS of the clip."""
    return max(1, round((frame_rate or 25.0) * DETECT_EVERY_SECONDS))


def searched_anyway(index: int, count: int, every: int) -> bool:
    """Whether `FaceFollower.follow` searches frame `index` of `count` frames whatever it finds (the
    first, every `every`-th, the last); bisections search more where a face comes or goes."""
    return index % every == 0 or index == count - 1


class FaceFollower:
    """Follows every face of a run of frames (one clip, or one segment of it).

    `detect(rgb)` gives a frame's faces; `framing` and `size` make each face's crop (the model's).
    With a `scale` (pixels not square, pixel_aspect.py) faces are found and followed as the picture
    is shown, and the crops given are of the stored pixels; `searched` faces are in shown pixels."""

    def __init__(self, detect: Callable[[np.ndarray], list[Face]], framing: str, size: int, every: int,
                 searched: dict[int, list[Face]] | None = None, scale: Scale = SQUARE):  # fmt: skip
        self.detect, self.framing, self.size, self.every = detector_as_shown(detect, scale), \
            alignment.framing(framing), size, every
        self.scale = scale
        # Detector passes by frame index: those of the frames buffered, and any made beforehand
        # (`searched`: a frame found there is not searched again; Ray detects in parallel).
        self.searched: dict[int, list[Face]] = dict(searched or {})

    def follow(self, frames: Iterable[Frame], rgb_of: Callable[[Frame], np.ndarray]
               ) -> Iterator[tuple[Frame, list[FaceCrop], list[Face] | None]]:
        """Each frame, in order, with the crops to edit in it (weights set) and, for a frame the
        detector searched, what it found (for the report).

        The first frame, every `every`-th and the last are searched; the frames between two searched
        ones wait in a buffer (at most `every` of them) until the second is, so that their crops
        can glide, and so that a face lost or found between them can be looked for in them. FADE
        more frames wait after that, so that a face lost early in the next stretch fades out over
        frames of this one too."""
        window: list[Frame] = []
        tracks: list[Track] = []
        placed: deque = deque()  # (index, frame, [(track, crop -> photo)]), weights not yet known
        start = 0
        for index, frame in enumerate(frames):
            if index == 0:
                tracks = [Track(self._back(face), face, 0) for face in self._search(0, frame, rgb_of)]
            elif index % self.every == 0:
                placed.extend(self._advance(tracks, window, start, index, frame, rgb_of))
                tracks = [track for track in tracks if track.last is None]
                window, start = [], index
                while len(placed) > FADE:
                    yield self._finished(*placed.popleft())
            window.append(frame)
        if len(window) > 1:  # the last frame: searched too, the rest glide towards it
            last = start + len(window) - 1
            placed.extend(self._advance(tracks, window[:-1], start, last, window[-1], rgb_of))
            tracks = [track for track in tracks if track.last is None]
            window, start = window[-1:], last
        placed.extend((start, frame, [(track, track.back) for track in tracks]) for frame in window)
        while placed:
            yield self._finished(*placed.popleft())

    def _advance(self, tracks: list[Track], window: list, start: int, end: int, frame: Frame,
                 rgb_of: Callable) -> list[tuple[int, Frame, list]]:  # fmt: skip
        """Search frame `end` and bring `tracks` there (in place; new ones appended): a face found
        again moves its track's crop (or holds it, HOLD); a track whose face is gone gets the last
        frame it is in (`last`); a face no track held starts one from its first frame. Returns the
        window's frames (start ... end - 1) with each track's crop there, gliding."""
        found = self._search(end, frame, rgb_of)
        unmatched = list(found)
        glides = []  # (track, crop at start, crop at end)
        jumped: dict[Face, float] = {}  # faces matched to a track across a cut -> half the jump, crop sides
        for track in list(tracks):
            face = self._nearest(track.back, unmatched)
            before, within = track.back, SAME_FACE
            after = self._back(face) if face is not None else None
            jump = self._cut_between(window, start, before, after, rgb_of) if face is not None else None
            if jump is not None:  # two faces: each is looked for within half the jump of its own crop
                jumped[face] = within = jump / 2
                face = None
            if face is not None:
                unmatched.remove(face)
                track.back, track.face = self._held(track.back, after), face
            else:  # lost: its last frame is in the window; the crop glides to where it was found there
                track.last = self._bisect(window, start, rgb_of,
                                          lambda faces, b=before, w=within: self._nearest(b, faces, w) is None)
                if track.last > start:
                    track.back = self._glide_end(before, track.last, within, (track.last - start) / len(window))
            glides.append((track, before, track.back))
        for face in unmatched:  # a face no track held: its first frame is in the window, or is `end`
            back, within = self._back(face), jumped.get(face, SAME_FACE)
            first = self._bisect(window, start, rgb_of,
                                 lambda faces, b=back, w=within: self._nearest(b, faces, w) is not None) + 1
            track = Track(back, face, first)
            # the crop glides from where the face was found in its first frame
            share = 1 - (first - start) / len(window)
            start_back = self._glide_end(back, first, within, share) if first < end else back
            tracks.append(track)
            glides.append((track, start_back, back))
        self._forget(start - FADE)  # the frames still waiting (FADE of them) report their passes
        frames = []
        for offset, frame in enumerate(window):
            t = offset / len(window)
            frames.append((start + offset, frame, [(track, (1 - t) * before + t * after)
                                                   for track, before, after in glides]))  # fmt: skip
        return frames

    def _finished(self, index: int, frame: Frame, backs: list) -> tuple[Frame, list[FaceCrop], list[Face] | None]:
        """A frame with its crops, now that every track's ends around it are known."""
        crops = []
        for track, back in backs:
            if index < track.first or (track.last is not None and index > track.last):
                continue
            weight = track.weight(index)
            if weight > 0:
                crops.append(in_stored_pixels(FaceCrop(alignment.invert(back), self.size, self.framing.name,
                                                       self._face_at(index, back) or track.face, weight),
                                              self.scale))
        return frame, crops, self.searched.get(index)

    def _search(self, index: int, frame: Frame, rgb_of: Callable[[Frame], np.ndarray]) -> list[Face]:
        if index not in self.searched:
            self.searched[index] = self.detect(rgb_of(frame))
        return self.searched[index]

    def _bisect(self, window: list, start: int, rgb_of: Callable, changed: Callable[[list[Face]], bool]) -> int:
        """The last frame index of the window (start ... start + len - 1) before `changed` holds of
        its faces, given that it does not at `start` and does just after the window (a face gone, or
        come); detector passes as needed."""
        low, high = 0, len(window)  # unchanged at low; changed at high (the frame after the window)
        while high - low > 1:
            middle = (low + high) // 2
            if changed(self._search(start + middle, window[middle], rgb_of)):
                high = middle
            else:
                low = middle
        return start + low

    def _forget(self, before: int) -> None:
        for index in [i for i in self.searched if i < before]:
            del self.searched[index]

    def _back(self, face: Face) -> np.ndarray:
        return alignment.invert(self.framing.crop_transform(face.landmarks, self.size))

    def _held(self, held: np.ndarray, new: np.ndarray) -> np.ndarray:
        """The new crop, or the held one where the two differ by landmark noise only."""
        return held if _corner_move(held, new, self.size) < HOLD * self.size * _scale(held) else new

    def _glide_end(self, anchor: np.ndarray, index: int, within: float, share: float) -> np.ndarray:
        """The crop at the far end of a glide from `anchor` that passes, `share` of the way along it,
        through the crop of the face searched at frame `index` near `anchor` (held: noise moves
        nothing); `anchor` where that frame has no such face."""
        face = self._nearest(anchor, self.searched.get(index) or [], within)
        if face is None:
            return anchor
        return anchor + (self._held(anchor, self._back(face)) - anchor) / share

    def _cut_between(self, window: list, start: int, before: np.ndarray, after: np.ndarray,
                     rgb_of: Callable) -> float | None:  # fmt: skip
        """If a track's crop `before` (at `start`) and its face's crop `after` (just past the window) are
        two faces with a cut between them rather than one that moved (see JUMP): how far apart, in crop
        sides; None if not."""
        side = self.size * _scale(before)
        jump = _centre_distance(before, after, self.size) / side
        if jump < JUMP:
            return None
        if len(window) < 2:
            return jump  # the next frame: no face moves that far in one
        middle = len(window) // 2
        t = middle / len(window)
        glide = (1 - t) * before + t * after
        # a face that moved is near the glide's middle; across a cut the face there is at one end
        moved = self._nearest(glide, self._search(start + middle, window[middle], rgb_of), jump / 4)
        return None if moved is not None else jump

    def _nearest(self, back: np.ndarray, faces: list[Face], within: float = SAME_FACE) -> Face | None:
        """Of `faces`, the one nearest to the crop `back` if it is that crop's face (within `within` of
        its side)."""
        centre, side = alignment.apply(back, [(self.size / 2, self.size / 2)])[0], self.size * _scale(back)
        best, best_distance = None, within * side
        for face in faces:
            other = self._back(face)
            distance = np.hypot(*(alignment.apply(other, [(self.size / 2, self.size / 2)])[0] - centre))
            ratio = _scale(other) / _scale(back)
            if distance < best_distance and 1 / SAME_SIZE < ratio < SAME_SIZE:
                best, best_distance = face, distance
        return best

    def _face_at(self, index: int, back: np.ndarray) -> Face | None:
        """The face the detector found at frame `index` under this crop, if it searched that frame."""
        faces = self.searched.get(index)
        return self._nearest(back, faces) if faces else None


def _scale(back: np.ndarray) -> float:
    """Photo pixels per crop pixel of a crop -> photo similarity."""
    return float(np.sqrt(abs(np.linalg.det(back[:, :2]))))


def _centre_distance(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """Distance, in photo pixels, between the centres of two crops (crop -> photo)."""
    centre = [(size / 2, size / 2)]
    return float(np.hypot(*(alignment.apply(a, centre)[0] - alignment.apply(b, centre)[0])))


def _corner_move(a: np.ndarray, b: np.ndarray, size: int) -> float:
    """Mean distance, in photo pixels, between the corners of two crops (crop -> photo)."""
    corners = np.array([(0, 0), (size, 0), (size, size), (0, size)], dtype=np.float64)
    return float(np.hypot(*(alignment.apply(a, corners) - alignment.apply(b, corners)).T).mean())
