"""Faces and their five landmarks: RetinaFace with a MobileNet-0.25 backbone, on onnxruntime.

The network (weights/retinaface_mnet025.onnx, see weights/LICENSE) maps a BGR picture, less its
per-channel mean, to three tensors over a fixed set of prior boxes (SSD-style anchors: strides 8, 16,
32, two square sizes each): box offsets, face / background scores, and five landmark offsets. This
module makes the priors, decodes offsets into photo pixels, drops weak and duplicate boxes, and picks
the scales the photo is searched at. Everything here is ours; the model is Deng et al.'s RetinaFace
(CVPR 2020) as trained by yakhyo/retinaface-pytorch on WIDER FACE.

Coordinates are continuous photo pixels: pixel (row i, column j) covers [j, j+1) x [i, i+1), so its
centre is (j + 0.5, i + 0.5). Landmarks come in the network's order: the eye on the picture's left,
the eye on its right, the nose tip, the mouth corner on the left, the one on the right.

Scales (numbers: benchmarks/face_detection.py, recorded in benchmarks/results/face_detection_cpu.md):
the network scores real faces of NET_SMALLEST px and more at its input above 0.99, and boxes faces
up to about NET_LARGEST px well. A photo is searched at the scale that brings the smallest face
looked for (`min_face`, photo px; no floor relative to the photo's size) to NET_SMALLEST; a small
photo is enlarged instead, to the pixels a 640x480 photo gets (it costs as little). Where a face as
large as the photo's shorter side would be past NET_LARGEST, coarser passes follow (cheap: each
has 1/39 of the pixels of the one before). A 640x480 photo is searched once, at 0.8.

Weak boxes: the search keeps boxes down to CANDIDATE_THRESHOLD (small ones down to
SMALL_CANDIDATE_THRESHOLD, and the best few of them down to FAINT_THRESHOLD); one below
SCORE_THRESHOLD is looked at again, turned upright by its eye line and enlarged to VERIFY_FACES px
(FAINT_FACES for the faintest; the next size only if the first found something, LOOK_AGAIN), and kept
only if it scores SCORE_THRESHOLD there (`_verified`).
Small and turned faces score low at the search's scale and high upright and enlarged; face-free
pictures have few such boxes (0.81 second looks per 640x480 picture of the benchmark's, and up to
FAINT_LOOKS faint ones) and none passes. Photos of gravel, grass or foliage have hundreds: only the
best-scored WEAK_LOOKS per WORK_PIXELS searched get a look (`weak_box_budget`): the benchmark's worst
640x480 face-free photo 152 ms instead of 690-970 ms, 1280x960 0.69 s instead of 6.5 s, as many
faces found. Boxes that could never be kept (`_usable`) go before NMS.

Landmarks: the search's landmarks lean towards an upright, mid-sized face, so each face found is
read again in an upright crop of its own, at REFINE_FACE and REFINE_CLOSER px, each mirrored, the
readings averaged (see `_refined`); a box the first reading does not find again (CONFIRM_THRESHOLD,
or closer, CONFIRM_AGAIN) is not a face: real face-free photos at sizes the constants were not tuned
at gave boxes of 0.82-0.94 (a cat, the moon, stars) that read nothing.
"""

import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights" / "retinaface_mnet025.onnx"
MEAN_BGR = (104.0, 117.0, 123.0)  # the training images' channel means (biubug6/Pytorch_Retinaface)
STRIDES = (8, 16, 32)
PRIOR_SIDES = ((16, 32), (64, 128), (256, 512))  # square priors per stride, in input pixels
CENTRE_VARIANCE, SIZE_VARIANCE = 0.1, 0.2  # the offsets' scaling in the training encoder
SCORE_THRESHOLD = 0.8  # face-free pictures score up to 0.48 (a cat); small real faces turned 30 degrees 0.5-0.9
# A box the search scores between CANDIDATE_THRESHOLD and SCORE_THRESHOLD is a face only if it scores
# SCORE_THRESHOLD upright and enlarged (`_verified`). Rendered 40 px faces found (150 + 150, both
# sizes of VERIFY_FACES): 0.94 at 0.05, 0.97 at 0.02, 0.98 at 0.01 (48 px: 0.98, 0.99, 1.00); face-free
# 640x480 pictures got 0.13, 0.45 and 2.0 second looks each (20.9, 22.3, 29.3 ms) and no box at any.
# 0.01 made the benchmark's photo without a face cost 25 ms instead of 15: 0.02 is the middle.
CANDIDATE_THRESHOLD = 0.02
# Boxes under SMALL_BOX min_face score lowest at the search (a 40 px face is 32 px at its input), and
# face-free pictures have few of them: such a box is a candidate from SMALL_CANDIDATE_THRESHOLD on.
# 0.02 -> 0.01 (300 + 300 rendered faces): 40 px 0.943 / 0.957 -> 0.960 / 0.980, 40-64 px faces in
# 4000x3000 photos 0.973 -> 0.983, real faces at 40 px turned 45 degrees 19 -> 23 of 24; second looks
# per face-free 640x480 picture 0.42 -> 0.81 (~1 ms more), no box. 0.0075: 1.69 looks, 0.003 more found.
SMALL_CANDIDATE_THRESHOLD = 0.01
SMALL_BOX = 2.0
# Small boxes scoring FAINT_THRESHOLD to SMALL_CANDIDATE_THRESHOLD are mostly texture, but a small
# low-contrast face is often the best of them: 16 of the 19 rendered faces of 40-48 px still missed
# were dark-skinned faces on dark or busy backgrounds, boxed at 0.003-0.009. The best FAINT_LOOKS per
# WORK_PIXELS get one look, at FAINT_FACES px. 300 + 300 rendered faces at 40 / 48 px: 0.960 / 0.977 ->
# 0.977 / 0.980, face-free 640x480 pictures +4.4 ms each (2 looks at both sizes: 0.980 / 0.983, +12 ms;
# 3 or 4 looks at 56 px: 0.977 / 0.983).
FAINT_THRESHOLD, FAINT_LOOKS, FAINT_FACES = 0.003, 2, (56,)
# Input px a weak box is enlarged to, tried in order until one scores (real 40 px faces at 56: 0.85-0.99,
# upright to 45 degrees). A weak box's side is only roughly the face's, so one size misses faces the
# other finds: 72 after 56 found 6 more of 300 rendered faces at 40 px and 12 more at 48 px, and no
# face-free picture scored above 0.28 at either (benchmarks/results/face_detection_cpu.md).
VERIFY_FACES = (56, 72)
# A weak box whose looks found a face scoring PROMISING or more, but under SCORE_THRESHOLD, gets one
# more look at LAST_LOOK px, and is a face if it scores LAST_THRESHOLD there. Of the 13 rendered 40 px
# faces missed in 300 no constant was tuned on (celeba faces 300-599), 12 were the best box of their
# photo or near it and failed their looks at 0.1-0.77; at 96 px 7 of them scored 0.82-0.98 (6 of
# them 0.91 or more). Rendered face-free pictures' looks score up to 0.28; real textures' (the
# face-free photos enlarged) up to 0.83 at 56 / 72 px and 0.84 at 96 (hubble_deep_field, gravel):
# hence the higher bar for a box that failed two looks.
PROMISING, LAST_LOOK, LAST_THRESHOLD = 0.3, 96, 0.9
# A weak box whose first look finds nothing near it scoring LOOK_AGAIN gets no look at the next size.
# Real photos fill a 640x480 photo's budget of weak boxes (clothes, hair, walls, plants), two looks each:
# 3-11 times the search's time. Of 2071 weak boxes not on a face (real face-free photos, beside rendered
# and real faces) 9% scored 0.1 at 56 px (median 0.011); of 65 rendered and real faces found at 72 px
# after failing at 56, 62 had scored 0.1-0.79 there (the others 0.008-0.054). Through the benchmark:
# real photos 0.71x the time (0.02: 0.80x), and with the closer reading's confirmation (REFINE_CLOSER)
# 13 false boxes instead of 17 (0.02: 16); held-out rendered 40-48 px faces 9 of 2400 fewer found
# (0.02: none fewer); real faces as before.
LOOK_AGAIN = 0.1
# The crop searched around a weak box, in box sides: 3.0 -> 2.25 (with WEAK_FLOOR) found rendered faces at
# 40 px 0.937 / 0.950 -> 0.943 / 0.957, in group photos 0.973 -> 0.980 (300 + 300 faces); 2.0 and 2.5
# found fewer in a 150 + 150 probe. The look costs (2.25 / 3)^2 of the pixels.
VERIFY_CONTEXT = 2.25
FACE_FLOOR = 0.75  # of min_face: the smallest face kept (boxes are only roughly their faces' size)
# A weak box this much smaller than min_face is still looked at: its side is only roughly its face's (a
# 40 px face boxed 26 px at the search was missed); the face it turns out to be must meet the floor.
WEAK_FLOOR = 0.5
# Second looks per WORK_PIXELS searched, best-scored boxes first. Gravel or grass gives hundreds of
# weak boxes (2340 looks, 4.6-6.5 s, in a 1280x960 photo of gravel); a rendered face-free 640x480 picture
# gives 0.81 on average. Faces of 40-64 px on the real face-free photos (120): 0.992 found with no cap,
# with 24 or 32; 0.983 with 16, 0.975 with 8 (300 faces: no cap 0.957, 24 0.953, at 0.52x the time).
WEAK_LOOKS = 24
NMS_IOU = 0.4
MIN_FACE = 40  # photo px: the smallest face (box side) looked for by default
NET_SMALLEST = 32  # input px: a real face this large scores 0.99 and more (0.92 at 24, 0.98 at 28)
NET_LARGEST = 400  # input px: boxes hold to about 550 (and fail at 700); larger faces get a coarser pass
WORK_PIXELS = 512 * 384  # a 640x480 photo searched at NET_SMALLEST / MIN_FACE
SMALL_PHOTO_ZOOM = 2.0
# Each face found is read again, upright and mirrored, at REFINE_FACE px (and REFINE_CLOSER, below), in
# a crop REFINE_CONTEXT times as wide; the readings are averaged. Corner spread on real faces turned and
# moved (celeba-hq crop, benchmark): 64 px in 144 1.5-2.3% of the crop side, for 2 x 1.4 ms; 96 alone
# 1.9-2.5%; 64 px in 128, 3.2% (the context matters); unmirrored, a three-quarter view spreads 3.0%.
# The first reading, at REFINE_FACE alone, is also what confirms a face (CONFIRM_THRESHOLD).
REFINE_FACE = (64,)
REFINE_CONTEXT = 2.25
REFINE_THRESHOLD = 0.3  # the face is known to be there: a weaker reading still places its landmarks
# A face must also be found again in its first upright reading (the crop or its mirror scoring
# CONFIRM_THRESHOLD). Real faces of 35-340 px, upright or turned 30 degrees, read 0.96-1.0 there;
# 10 of the 14 false boxes the real face-free photos gave at 800x600 to 1600x1200 (a cat's face,
# the moon, stars, a rocket; 0.82-0.94 at the search) read nothing, the rest 0.44-0.70. Rendered
# faces read lower than real ones: a bar of 0.5 lost 6-15% of them, 0.3 lost 0-1.4%.
CONFIRM_THRESHOLD = 0.3
# A face that first reading does not find is read once more at CONFIRM_AGAIN px, and kept if that
# scores CONFIRM_AGAIN_THRESHOLD: rendered faces of 160-384 px missed the 64 px reading 1-3% of the
# time and 5 of 6 (256 px) and 5 of 8 (384 px) read 0.31-0.95 at 96; of the 12 false boxes on the
# real face-free photos that reached it, 10 read nothing at 96 and two 0.42 and 0.44 (stars).
CONFIRM_AGAIN, CONFIRM_AGAIN_THRESHOLD = (96,), 0.5
# Each upright reading at REFINE_FACE is averaged with one at REFINE_CLOSER px (mirrored too), in a crop
# REFINE_CLOSER_CONTEXT times as wide: the network errs on one crop in ways it does not on another
# size's. Real faces' CelebA-HQ crops (aligned portraits, as a model's data set holds them) placed
# 64-400 px wide and turned up to 30 degrees in 1024x768 pictures, against the mean of readings at
# five sizes: corner error 3.9% of the crop side at 64 alone; with 96 in 2.25 / 2.0 / 1.75 / 1.5
# times as wide 2.37 / 2.36 / 2.37 / 2.51%; with 80 2.8%, 128 2.3%, 48 3.1%, 96 unmirrored 2.9%.
# It costs ~4.2 ms a face.
REFINE_CLOSER, REFINE_CLOSER_CONTEXT = (96,), 1.75
# The closer reading also confirms: a face it does not find (no box of REFINE_THRESHOLD in the crop's
# middle) is not one. Of 2360 rendered faces (40-320 px, upright and turned 25 degrees) and 257 real
# ones (40-300 px, turned up to 30) none went unfound there (one of 2400 held-out 40-48 px rendered
# faces did); of the boxes on real face-free photos and beside real faces that passed the first
# reading (a man's hair seen from behind, gravel, stars), 9 of 40 did.
REFINE_AGAIN = 5  # degrees: a face whose upright reading turned it more than this is read again


@dataclass(frozen=True, eq=False)
class Face:
    """A face found in a photo: its box (left, top, right, bottom), the network's confidence, and
    five landmarks (5, 2) as x, y in photo pixels (order: see the module docstring)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray = field(repr=False)

    @property
    def side(self) -> float:
        """The box's mean side: how large the face is, in photo pixels."""
        left, top, right, bottom = self.box
        return ((right - left) + (bottom - top)) / 2


class FaceDetector:
    """RetinaFace on onnxruntime, on `threads` CPU threads. The session is made on first use, so
    making a detector costs nothing; `detect` may be called from several threads at once."""

    def __init__(self, weights: Path = WEIGHTS, threads: int = 1, score_threshold: float = SCORE_THRESHOLD,
                 min_face: float = MIN_FACE, refine: bool = True, weak_looks: float = WEAK_LOOKS,
                 look_again: float = LOOK_AGAIN):
        self.weights = Path(weights)
        self.weak_looks = weak_looks  # second looks per WORK_PIXELS searched (math.inf: every weak box)
        self.look_again = look_again  # a look at the next size needs one scoring this (0: every size)
        self.refine = refine
        self.threads = threads
        self.score_threshold = score_threshold
        self.min_face = min_face
        self._session = None
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """The faces in an (H, W, 3) or (H, W) uint8 picture, largest first; [] when there are none."""
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 picture, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        boxes, scores, points = [], [], []
        candidates = min(FAINT_THRESHOLD, SMALL_CANDIDATE_THRESHOLD, CANDIDATE_THRESHOLD, self.score_threshold)
        scales = search_scales(width, height, self.min_face)
        for scale in scales:
            found = self._search(rgb, scale, candidates)
            boxes.append(found[0])
            scores.append(found[1])
            points.append(found[2])
        boxes, scores, points = np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)
        # Boxes that could never be kept go before NMS: on gravel or grass they are thousands of tiny
        # ones, and NMS over them cost more than the search.
        usable = np.flatnonzero(self._usable(boxes, scores))
        faint_boxes = usable[scores[usable] < SMALL_CANDIDATE_THRESHOLD]
        faint_left = weak_box_budget(width, height, scales, FAINT_LOOKS)
        if len(faint_boxes) > 4 * faint_left:  # only the best few can get a look: NMS needs no more of them
            worst = np.argsort(-scores[faint_boxes], kind="stable")[4 * faint_left:]
            usable = np.setdiff1d(usable, faint_boxes[worst])
        keep = usable[non_maximum_suppression(boxes[usable], scores[usable], NMS_IOU)]
        photo = _Pyramid(rgb)  # second looks crop from its levels, landmark readings from the photo itself
        faces, floor = [], self.min_face * FACE_FLOOR
        looks_left = weak_box_budget(width, height, scales, self.weak_looks)
        for box, score, landmarks in zip(boxes[keep], scores[keep], points[keep], strict=True):
            face = Face(tuple(float(v) for v in box), float(score), landmarks.astype(np.float64))
            # A face below min_face (less a margin) is dropped (`_usable`): the floor is what the caller
            # asked for, and the network's small boxes at a fine scale are where its false boxes are. A
            # weak box is judged by the face its second look finds (see WEAK_FLOOR).
            if face.score < self.score_threshold:
                if looks_left == 0:
                    continue  # the weak boxes come best first: the rest are the likeliest textures
                faint = face.score < SMALL_CANDIDATE_THRESHOLD
                if faint and faint_left == 0:
                    continue
                if any(_centre_inside(face, found) for found in faces):
                    continue  # a weaker box of a face found already
                looks_left -= 1
                if faint:
                    faint_left -= 1
                face = self._verified(photo, face, FAINT_FACES if faint else VERIFY_FACES)
            elif self.refine:
                face = self._refined(photo, face)
            if face is not None and face.side >= floor:
                faces.append(face)
        return sorted(_one_per_face(faces), key=lambda face: -face.side)

    def _usable(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Which boxes may become faces: a strong one of FACE_FLOOR min_face or more, a weak one of
        WEAK_FLOOR min_face or more (and one under CANDIDATE_THRESHOLD only if under SMALL_BOX)."""
        sides = ((boxes[:, 2] - boxes[:, 0]) + (boxes[:, 3] - boxes[:, 1])) / 2
        strong = scores >= self.score_threshold
        weak = ~strong & (sides >= self.min_face * WEAK_FLOOR) & (
            (scores >= CANDIDATE_THRESHOLD) | (sides < self.min_face * SMALL_BOX))
        return (strong & (sides >= self.min_face * FACE_FLOOR)) | weak

    def _verified(self, photo: "_Pyramid", face: Face, sizes: tuple[int, ...]) -> Face | None:
        """A weak box looked at again closer: a crop around it, turned upright by its eye line and
        enlarged to each of `sizes` px, searched. A face if a box there, near the first, scores
        score_threshold (then refined as any face); None if not at any size, unless one scored
        PROMISING and a last look at LAST_LOOK px scores LAST_THRESHOLD. Small faces score low at
        the search's scale and high enlarged."""
        best = 0.0
        for face_px in sizes:
            found = self._verified_at(photo, face, face_px)
            if found is not None and found.score >= self.score_threshold:
                return self._refined(photo, found) if self.refine else found
            best = max(best, found.score if found is not None else 0.0)
            if best < self.look_again:
                break  # nothing face-like at this size: the next would not find it either
        if best >= PROMISING and LAST_LOOK not in sizes:
            found = self._verified_at(photo, face, LAST_LOOK)
            if found is not None and found.score >= max(LAST_THRESHOLD, self.score_threshold):
                return self._refined(photo, found) if self.refine else found
        return None

    def _verified_at(self, photo: "_Pyramid", face: Face, face_px: int) -> Face | None:
        """The best face a second look at `face_px` px finds near the weak box, scoring look_again (at
        most PROMISING) or more (box upright in the photo, unrefined landmarks), or None."""
        from starbatch.faces import alignment

        turn = _eye_angle(face.landmarks)
        linear = (face_px / face.side) * np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
        side = int(face_px * VERIFY_CONTEXT)
        left, top, right, bottom = face.box
        centre = np.array([(left + right) / 2, (top + bottom) / 2])
        to_crop = np.hstack([linear, (side / 2 - linear @ centre)[:, None]])
        floor = min(self.look_again or PROMISING, PROMISING, self.score_threshold)  # no gate (0): PROMISING
        boxes, scores, points = self._search(photo.crop(to_crop, side), 1.0, floor)
        near = np.flatnonzero(np.hypot(*(points.mean(axis=1) - side / 2).T) < face_px / 2)
        if not len(near):
            return None
        best = near[np.argmax(scores[near])]
        to_photo = alignment.invert(to_crop)
        landmarks = alignment.apply(to_photo, points[best].astype(np.float64))
        corners = alignment.apply(to_photo, boxes[best][[0, 1, 2, 1, 2, 3, 0, 3]].reshape(4, 2).astype(np.float64))
        box = (*corners.min(axis=0), *corners.max(axis=0))  # the found box, upright in the photo
        return Face(tuple(float(v) for v in box), float(scores[best]), landmarks)

    def _refined(self, photo: "_Pyramid", face: Face) -> Face | None:
        """The face with its landmarks read again where the network reads them best: turned upright
        (by its eye line), at REFINE_FACE and REFINE_CLOSER px, and mirrored; the readings averaged.
        None when the first reading scores under CONFIRM_THRESHOLD and one at CONFIRM_AGAIN px under
        CONFIRM_AGAIN_THRESHOLD, or when the closer reading finds nothing: not a face. The search's
        landmarks lean towards an upright face (a face turned 25 degrees reads as turned 5-18), so a
        face whose reading turns by more than REFINE_AGAIN degrees is read once more, upright by the
        new reading (benchmarks/results/face_detection_cpu.md)."""
        landmarks = face.landmarks
        for attempt in range(2):
            read, score = self._read_upright(photo, landmarks, face.side)
            sizes = REFINE_FACE
            if attempt == 0 and score < CONFIRM_THRESHOLD:
                read, score = self._read_upright(photo, landmarks, face.side, CONFIRM_AGAIN)
                sizes = CONFIRM_AGAIN
                if score < CONFIRM_AGAIN_THRESHOLD:
                    return None  # not a face upright and enlarged: a texture the search scored high
            closer = tuple(size for size in REFINE_CLOSER if size not in sizes)  # not read twice
            more = self._read_upright(photo, landmarks, face.side, closer, REFINE_CLOSER_CONTEXT)[0] if closer else None
            if attempt == 0 and closer and more is None:
                return None  # found at one size and not at another: a texture (see REFINE_CLOSER)
            readings = [reading for reading in (read, more) if reading is not None]
            if not readings:
                break
            read = np.mean(readings, axis=0)
            turn_change = abs(_degrees(_eye_angle(read) - _eye_angle(landmarks)))
            landmarks = read
            if turn_change < REFINE_AGAIN:
                break
        return Face(face.box, face.score, landmarks)

    def _read_upright(self, photo: "_Pyramid", landmarks: np.ndarray, face_side: float,
                      sizes: tuple[int, ...] = REFINE_FACE, context: float = REFINE_CONTEXT
                      ) -> tuple[np.ndarray | None, float]:
        """Landmarks read in an upright crop (`context` times the face's size) around their face, mapped
        back to photo pixels (None when no face is found in the crop's middle), and the best reading's
        score (0 for none)."""
        from starbatch.faces import alignment

        turn = _eye_angle(landmarks)
        upright = np.array([[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
        readings, best = [], 0.0
        for face_px in sizes:
            linear = (face_px / face_side) * upright
            side = int(face_px * context)
            to_crop = np.hstack([linear, (side / 2 - linear @ landmarks.mean(axis=0))[:, None]])
            crop = alignment.warp_crop(photo.levels[0], to_crop, side)  # full resolution: landmarks
            to_photo = alignment.invert(to_crop)
            both = self._run([crop, np.ascontiguousarray(crop[:, ::-1])], REFINE_THRESHOLD)  # one batch
            for mirrored, (_, scores, points) in zip((False, True), both, strict=True):
                if not len(points):
                    continue
                index = np.argmin(np.hypot(*(points.mean(axis=1) - side / 2).T))
                nearest = points[index].astype(np.float64)
                if np.hypot(*(nearest.mean(axis=0) - side / 2)) > face_px / 4:
                    continue  # another face in the crop: not a reading of this one
                best = max(best, float(scores[index]))
                if mirrored:  # back from the mirror: x flips, and left and right swap
                    nearest = nearest[[1, 0, 2, 4, 3]] * (-1, 1) + (side, 0)
                readings.append(alignment.apply(to_photo, nearest))
        if not readings:
            return None, best
        return np.mean(readings, axis=0), best

    def _search(self, rgb: np.ndarray, scale: float, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N, 4), scores (N,) and landmarks (N, 5, 2) above `threshold`, in photo pixels,
        with the picture resized by `scale` for the network."""
        import cv2

        height, width = rgb.shape[:2]
        net_width, net_height = max(round(width * scale), 1), max(round(height * scale), 1)
        # Area averaging, not bilinear: bilinear at 0.8 was 0.9 ms quicker per 640x480 photo and found
        # as many faces, but its landmarks start the readings worse (a real face's corner error 2.5% -> 3.1%).
        picture = rgb if (net_width, net_height) == (width, height) else cv2.resize(
            rgb, (net_width, net_height), interpolation=cv2.INTER_AREA)
        (boxes, scores, points), = self._run([picture], threshold)
        # back to photo pixels: the resize maps [0, W) onto [0, w) per axis
        to_photo = np.array([width / net_width, height / net_height], dtype=np.float32)
        return boxes * np.tile(to_photo, 2), scores, points * to_photo

    def _run(self, pictures: list[np.ndarray], threshold: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The network on pictures of one size, in one batch: per picture, its boxes, scores and
        landmarks above `threshold`, in its own pixels."""
        net_height, net_width = pictures[0].shape[:2]
        blob = np.empty((len(pictures), 3, net_height, net_width), dtype=np.float32)
        for index, picture in enumerate(pictures):
            for channel in range(3):  # RGB -> BGR planes, less the training means
                np.subtract(picture[:, :, 2 - channel], MEAN_BGR[channel], out=blob[index, channel],
                            dtype=np.float32)
        offsets, scores, landmark_offsets = self.session().run(None, {"input": blob})
        priors, found = prior_boxes(net_width, net_height), []
        for index in range(len(pictures)):
            chosen = np.flatnonzero(scores[index, :, 1] > threshold)
            boxes, points = decode(offsets[index, chosen], landmark_offsets[index, chosen], priors[chosen])
            found.append((boxes, scores[index, chosen, 1], points))
        return found

    def session(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import onnxruntime

                    options = onnxruntime.SessionOptions()
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                    self._session = onnxruntime.InferenceSession(
                        str(self.weights), options, providers=["CPUExecutionProvider"])
        return self._session


class _Pyramid:
    """The photo, and its halves, quarters... made on first use (2x2 means: each level's pixel
    covers exactly four of the one above). A second look's crop that shrinks the photo is cut from
    the level whose scale is nearest above its own, so it costs as many pixels as the crop has: cut
    from the photo itself (alignment.warp_crop averages down from full resolution), a look at a
    400 px weak box warped a 1200 px square, ~8 ms of a 23 ms detection. Landmark readings still
    crop at full resolution: from the levels, a real face's corner error rose from 2.65% to 3.1%."""

    def __init__(self, rgb: np.ndarray):
        self.levels = [rgb]

    def crop(self, to_crop: np.ndarray, side: int) -> np.ndarray:
        """The (side, side) crop that `to_crop` (photo px -> crop px) frames."""
        import cv2

        from starbatch.faces import alignment

        shrink = float(np.linalg.svd(to_crop[:, :2], compute_uv=False)[-1])
        level = 0
        while shrink * 2 ** (level + 1) <= 1 and min(self.levels[level].shape[:2]) >= 4:
            level += 1
            if level == len(self.levels):
                above = self.levels[-1]
                even = above[: above.shape[0] // 2 * 2, : above.shape[1] // 2 * 2]
                self.levels.append(cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2),
                                              interpolation=cv2.INTER_AREA))
        on_level = to_crop.astype(np.float64).copy()
        on_level[:, :2] *= 2**level  # a level-k pixel x is photo pixel 2^k x (pixel edges at integers)
        return alignment.warp_crop(self.levels[level], on_level, side)


def _centre_inside(face: Face, other: Face) -> bool:
    """Whether `face`'s box centre lies in `other`'s box. Looking again at such a weak box found the
    face already found (in the benchmark's photo with a face, 7.5 ms more) and could replace its
    landmarks with a reading started from a worse guess."""
    left, top, right, bottom = other.box
    x, y = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    return left <= x <= right and top <= y <= bottom


def _one_per_face(faces: list[Face]) -> list[Face]:
    """The best-scored of faces whose landmarks coincide: weak boxes of one face at two scales (a
    box and a larger one around it overlap too little for NMS) are verified as the same face."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda face: -face.score):
        centre = face.landmarks.mean(axis=0)
        if all(np.hypot(*(centre - other.landmarks.mean(axis=0))) >= 0.3 * min(face.side, other.side)
               for other in kept):
            kept.append(face)
    return kept


def _eye_angle(landmarks: np.ndarray) -> float:
    """Radians from the picture's x axis to the line from the left eye to the right one."""
    eye_line = landmarks[1] - landmarks[0]
    return float(np.arctan2(eye_line[1], eye_line[0]))


def _degrees(radians: float) -> float:
    """An angle difference in degrees, wrapped into [-180, 180)."""
    return (np.degrees(radians) + 180) % 360 - 180


@lru_cache(maxsize=8)
def detector_for(min_face: float = MIN_FACE) -> FaceDetector:
    """The detector (one CPU thread) that looks for faces of `min_face` px and more; one per size."""
    return FaceDetector(min_face=min_face)


def detect(rgb: np.ndarray, min_face: float = MIN_FACE) -> list[Face]:
    """The faces of `min_face` px and more in a picture (one CPU thread)."""
    return detector_for(float(min_face)).detect(rgb)


def search_scales(width: int, height: int, min_face: float = MIN_FACE) -> list[float]:
    """The scales a (width, height) photo is searched at, finest first (see the module docstring)."""
    scale = min(1.0, NET_SMALLEST / min_face)
    # a small photo costs little: it is enlarged (up to SMALL_PHOTO_ZOOM) to the pixels a 640x480 one gets
    scale = max(scale, min(SMALL_PHOTO_ZOOM, np.sqrt(WORK_PIXELS / (width * height))))
    scales = [scale]
    largest_face = min(width, height)
    while largest_face * scale > NET_LARGEST:
        # the coarsest next pass that still takes over below where this one stops, with a factor 2 to spare
        scale *= 2 * NET_SMALLEST / NET_LARGEST
        scales.append(scale)
    return scales


def weak_box_budget(width: int, height: int, scales: list[float], per_work_pixels: float = WEAK_LOOKS) -> float:
    """How many weak boxes of a (width, height) photo searched at `scales` get a second look:
    `per_work_pixels` per WORK_PIXELS searched, so a photo's worst case grows with its size, as the search."""
    if math.isinf(per_work_pixels):
        return math.inf
    searched = sum(round(width * scale) * round(height * scale) for scale in scales)
    return math.ceil(per_work_pixels * searched / WORK_PIXELS)


@lru_cache(maxsize=16)
def prior_boxes(width: int, height: int) -> np.ndarray:
    """(N, 4) centre x, centre y, width, height of the network's priors for a width x height input,
    in input pixels, in the order of its outputs: by stride, then row, column, size."""
    rows = []
    for stride, sides in zip(STRIDES, PRIOR_SIDES, strict=True):
        cells_y, cells_x = -(-height // stride), -(-width // stride)  # each stride-2 conv rounds up
        y, x = np.mgrid[0:cells_y, 0:cells_x].astype(np.float32)
        centres = np.stack([(x.ravel() + 0.5) * stride, (y.ravel() + 0.5) * stride], axis=1)
        for_cell = np.repeat(centres, len(sides), axis=0)
        side = np.tile(np.array(sides, dtype=np.float32), len(centres))[:, None]
        rows.append(np.hstack([for_cell, side, side]))
    priors = np.vstack(rows)
    priors.flags.writeable = False
    return priors


def decode(offsets: np.ndarray, landmark_offsets: np.ndarray, priors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training encoder undone: box offsets (N, 4) -> (left, top, right, bottom), landmark
    offsets (N, 10) -> (N, 5, 2), in the priors' pixels."""
    centre, size = priors[:, :2], priors[:, 2:]
    box_centre = centre + offsets[:, :2] * CENTRE_VARIANCE * size
    box_size = size * np.exp(offsets[:, 2:] * SIZE_VARIANCE)
    boxes = np.hstack([box_centre - box_size / 2, box_centre + box_size / 2])
    points = centre[:, None, :] + landmark_offsets.reshape(-1, 5, 2) * CENTRE_VARIANCE * size[:, None, :]
    return boxes, points


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, iou_limit: float) -> np.ndarray:
    """Indices of the boxes kept, best first: each box that overlaps a better kept one by more than
    `iou_limit` (intersection over union) is dropped."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        width = np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0])
        height = np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1])
        overlap = np.clip(width, 0, None) * np.clip(height, 0, None)
        order = rest[overlap / (areas[best] + areas[rest] - overlap) <= iou_limit]
    return np.array(kept, dtype=np.int64)
