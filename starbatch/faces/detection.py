"""Where the model looks: frontal faces found with OpenCV's Haar cascades, each turned into the square
crop framed as the training faces were; or, with `--faces center`, the photo's central square.

How (numbers: `python benchmarks/face_detection.py`, recorded in benchmarks/results/face_detection_cpu.md):
- The photo's luma, downscaled so its shorter side is at most 320 px: faces smaller than 1/8 of the
  shorter side are not looked for (they would give the model a blurry crop, and looking for them
  costs time). 16-bit photos keep their top 8 bits.
- `haarcascade_frontalface_alt2` over an octave pyramid. Each level is eroded with a 3x3 minimum
  filter, which turns small bright details (eye whites, teeth: on darker skin they break the
  cascade's "eyes darker than cheeks" pattern) into dark blobs, and is searched for boxes of
  36-72 px, so the erosion means the same at every face size. It took recall on the darkest third
  of skin tones from 0.36 to 0.81, and on all CelebA-style faces from 0.74 to 0.92. No histogram
  equalisation: on flat or noisy face-free pictures it made 12-22% false positives.
- Every box must be confirmed by `haarcascade_frontalface_alt` around it (no recall lost; it removed
  the last false positives). `frontalface_default` found fewer faces and fired on 21% of the
  face-free pictures.
- Where nothing is found: again with the darks brightened (gamma 0.5); then pairs of eyes
  (`haarcascade_eye`, eyes of 16 px or more), which find faces whose cheeks a full beard hides;
  then the picture turned 20 degrees each way, for tilted heads (found at 20 degrees: 0.53 before,
  0.95 with it; face-free pictures, which run every pass, cost about twice as much).
- Boxes from all levels are merged: a box overlapping a larger one (IoU > 0.3, or mostly inside it),
  or much smaller and centred within a larger face's crop (hair or beard texture next to a found
  face), is dropped, so one face gives one box.
- A face other than the largest must have skin chroma in its middle, when the largest has: on real
  photos the cascades also fire on badges and patches (a by-hand check on scikit-image's test
  pictures: the astronaut's face found, her name badge dropped by this).
- Crop: CROP_SCALE box sides, centred CROP_SHIFT box sides above the box's centre: the medians
  over the faces found among `celeba_face(0, 0..299)`, whose 128 px frame IS the training framing
  (synthetic/faces.py: the face's half-width 0.23 of the frame, centred at 0.52 of its height).
  Crops are shifted, then shrunk, to stay inside the photo.

Measured: recall 0.92 (CelebA-style) and 0.90 (RaFD-style) at 128 px, 0.97 at 256 px; 0 false
positives on 500 face-free pictures (rendered backgrounds, gradients, noise, random shapes, the
tests' face_like stand-ins) at 128 and at 256 px; crop IoU with the training frame 0.84 (median).
Missed: the darkest skin tones most (0.81 vs 0.97), heads turned sideways (frontal cascades) or
tilted past ~30 degrees. A face found turned gets a crop turned with it (turned_crop.py), so the
model sees it upright; so does a face found upright whose eyes (eye cascade) lie 6 degrees or
more off level (_levelled).
Cost: 10-60 ms per photo on one CPU thread, about a quarter of G's time per image on CPU.
"""

import threading
from dataclasses import dataclass

import numpy as np

CASCADE = "haarcascade_frontalface_alt2.xml"
CONFIRM = "haarcascade_frontalface_alt.xml"  # a second opinion on every box
WORK_SIDE = 320  # the shorter side the search runs at (px)
MIN_FACE_FRACTION = 1 / 8  # of the shorter side: smaller faces are not looked for
LEVEL_SIZES = (36, 72)  # box sizes searched on each pyramid level; the finest level goes down to 24
SCALE_STEP = 1.05  # detectMultiScale's scaleFactor: 1.1 missed 5% more faces
MIN_NEIGHBOURS = 2  # 3 missed 2-3% more faces
ERODE = 3
FALLBACK_GAMMA = 0.5
CROP_SCALE = 1.56  # crop side / box side
CROP_SHIFT = -0.08  # crop centre - box centre, in box sides (negative: up)
SKIN_SHARE = 0.4  # of a further face's middle, when the largest face's middle is skin-coloured too
EYES = "haarcascade_eye.xml"  # last resort: a pair of eyes where the face cascades saw no face
TILT = 20  # degrees each way, searched last: heads tilted 10-30 degrees
LEVEL_FROM = 6  # degrees: eyes closer to level keep the upright crop (training faces tilt ~7)
ROLL_LIMIT = 35  # degrees: a steeper "pair of eyes" is something else
EYE_PAIR_BOX = (3.34, 0.30)  # face box side, and its centre below the eyes' midpoint, in eye spacings


@dataclass(frozen=True)
class FaceBox:
    """A square region of the photo, in pixels: what the model sees, resized to its size."""

    left: int
    top: int
    side: int
    turn: float = 0.0  # degrees the square is turned about its centre (turned_crop.py); 0: upright
    head: bool = False  # framed around a found face: the change is blended over the head only


@dataclass(frozen=True)
class Detection:
    """A face as the cascade boxes it (eyes to mouth, about), in photo pixels."""

    left: float
    top: float
    side: float
    turn: float = 0.0  # degrees the picture was turned for the face to stand upright (_tilted)

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.side / 2, self.top + self.side / 2


FACE_MODES = ("detect", "center")
NO_FACE = "no face found (--faces center edits the centre square)"


def centre_box(width: int, height: int) -> FaceBox:
    """The central square: what `--faces center` edits (and all starbatch saw before detection)."""
    side = min(width, height)
    return FaceBox((width - side) // 2, (height - side) // 2, side)


def face_crop(face: Detection, width: int, height: int) -> FaceBox:
    """The square crop framed like the training faces, shifted (then shrunk) to stay in the photo.

    For a tilted face the crop is turned with it, and "up" is the face's up."""
    side = min(round(face.side * CROP_SCALE), width, height)
    centre_x, centre_y = face.centre
    angle = np.deg2rad(face.turn)
    centre_x -= np.sin(angle) * CROP_SHIFT * face.side
    centre_y += np.cos(angle) * CROP_SHIFT * face.side
    left = min(max(round(centre_x - side / 2), 0), width - side)
    top = min(max(round(centre_y - side / 2), 0), height - side)
    return FaceBox(int(left), int(top), side, face.turn, head=True)


def face_boxes(rgb: np.ndarray, faces: str = "detect") -> list[FaceBox]:
    """The crops to edit in an (H, W, 3) photo, largest face first; [] when detection finds none."""
    height, width = rgb.shape[:2]
    if faces == "center":
        return [centre_box(width, height)]
    if faces != "detect":
        raise ValueError(f"faces={faces!r}: choose one of {FACE_MODES}")
    return [face_crop(face, width, height) for face in detect_faces(rgb)]


def detect_faces(rgb: np.ndarray) -> list[Detection]:
    """Frontal faces in an 8- or 16-bit (H, W, 3) RGB array, largest first, one box per face."""
    cv2 = _opencv()
    height, width = rgb.shape[:2]
    shrink = min(1.0, WORK_SIDE / min(height, width))
    if shrink < 1.0:
        rgb = cv2.resize(np.ascontiguousarray(rgb), (max(1, round(width * shrink)), max(1, round(height * shrink))),
                         interpolation=cv2.INTER_AREA)  # fmt: skip
    gray = _luminance(rgb)
    smallest = max(24, round(MIN_FACE_FRACTION * min(gray.shape)))
    found = _search(gray, smallest)
    if not found:  # darker faces: brighten the darks and look again
        lut = (255 * (np.arange(256) / 255) ** FALLBACK_GAMMA + 0.5).astype(np.uint8)
        found = _search(cv2.LUT(gray, lut), smallest)
    if not found:  # a full beard hides the cheeks the face cascades look for: find the eyes
        found = _eye_pairs(gray, smallest)
    if not found:  # a tilted head: the cascades want faces within about 10 degrees of upright
        found = _tilted(gray, smallest)
    faces = _one_box_per_face([Detection(*box) for box in found])
    if faces and _skin_share(rgb, faces[0]) >= SKIN_SHARE:  # the photo's colours are natural: hold the rest to it
        faces = faces[:1] + [face for face in faces[1:] if _skin_share(rgb, face) >= SKIN_SHARE]
    faces = [_levelled(gray, face) for face in faces]
    return [Detection(face.left / shrink, face.top / shrink, face.side / shrink, face.turn) for face in faces]


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """8-bit luma (ITU-R 601, as Pillow's "L"); 16-bit photos keep their top 8 bits."""
    cv2 = _opencv()
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return (gray >> 8).astype(np.uint8) if gray.dtype == np.uint16 else gray


def _search(gray: np.ndarray, smallest: int) -> list[tuple[float, float, float]]:
    """Boxes (x, y, side) in `gray`'s pixels, from every level of an octave pyramid."""
    cv2 = _opencv()
    kernel = np.ones((ERODE, ERODE), np.uint8)
    found, level, scale = [], gray, 1
    low, high = LEVEL_SIZES
    while min(level.shape) >= 24:
        least = max(24 if scale == 1 else low, int(smallest / scale))
        if least < high:
            eroded = cv2.erode(level, kernel)
            boxes = _cascade(CASCADE).detectMultiScale(eroded, SCALE_STEP, MIN_NEIGHBOURS, minSize=(least, least),
                                                       maxSize=(high, high))  # fmt: skip
            for x, y, w, _ in np.asarray(boxes).reshape(-1, 4):
                if _confirmed(eroded, x, y, w):
                    found.append((x * scale, y * scale, w * scale))
        level = cv2.resize(level, (level.shape[1] // 2, level.shape[0] // 2), interpolation=cv2.INTER_AREA)
        scale *= 2
    return found


def _tilted(gray: np.ndarray, smallest: int) -> list[tuple[float, float, float, float]]:
    """Boxes found with the picture turned TILT degrees each way, placed back where the face is,
    with the angle that stands the face upright."""
    cv2 = _opencv()
    height, width = gray.shape
    found = []
    for angle in (TILT, -TILT):
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        turned = cv2.warpAffine(gray, turn, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        back = cv2.invertAffineTransform(turn)
        for x, y, side in _search(turned, smallest):
            centre_x, centre_y = back @ np.array([x + side / 2, y + side / 2, 1.0])
            found.append((centre_x - side / 2, centre_y - side / 2, side, float(angle)))
    return found


def _levelled(gray: np.ndarray, face: Detection) -> Detection:
    """The face with `turn` set from the line through its eyes, when it is found upright but tilted
    by LEVEL_FROM degrees or more and a pair of eyes is clear (eye cascade, eyes of 12 px or more):
    in the upper half, one on each side, of about one size, ROLL_LIMIT degrees off level at most."""
    if face.turn or face.side < 48:
        return face
    left, top, side = (int(round(v)) for v in (face.left, face.top, face.side))
    region = gray[max(0, top) : top + side // 2 + side // 8, max(0, left) : left + side]
    if min(region.shape) < 24:
        return face
    eyes = np.asarray(_cascade(EYES).detectMultiScale(region, SCALE_STEP, 3, minSize=(12, 12),
                                                      maxSize=(side // 3, side // 3))).reshape(-1, 4)  # fmt: skip
    centres = [(x + w / 2, y + w / 2, float(w)) for x, y, w, _ in eyes]
    middle = left + side / 2 - max(0, left)  # the face's centre line, in the region's pixels
    rolls = []
    for x1, y1, w1 in centres:
        for x2, y2, w2 in centres:
            apart = x2 - x1
            if x1 < middle < x2 and max(w1, w2) < 1.5 * min(w1, w2) and 0.25 * side < apart < 0.7 * side:
                roll = float(np.degrees(np.arctan2(y2 - y1, apart)))
                if abs(roll) <= ROLL_LIMIT:
                    rolls.append(roll)
    if len(rolls) != 1 or abs(rolls[0]) < LEVEL_FROM:  # no pair, an unclear choice, or level enough
        return face
    return Detection(face.left, face.top, face.side, rolls[0])


def _skin_share(rgb: np.ndarray, face: Detection) -> float:
    """How much of the box's middle half has skin chroma (YCrCb: Cr 133-180, Cb 70-130, any
    brightness). On the renderer's faces, of every tone, at least 0.79; on real photos the cascades
    also fire on badges and patches (scikit-image's astronaut: 0.14), which this drops. Only
    further faces are held to it, and only when the largest passes, so grey or tinted photos keep
    their faces."""
    cv2 = _opencv()
    left, top, side = (int(round(v)) for v in (face.left + face.side / 4, face.top + face.side / 4, face.side / 2))
    middle = np.ascontiguousarray(rgb[max(0, top) : top + side, max(0, left) : left + side])
    if middle.size == 0:
        return 0.0
    if middle.dtype == np.uint16:
        middle = (middle >> 8).astype(np.uint8)
    ycrcb = cv2.cvtColor(middle, cv2.COLOR_RGB2YCrCb).astype(np.int16)
    red, blue = ycrcb[..., 1], ycrcb[..., 2]
    return float(((red >= 133) & (red <= 180) & (blue >= 70) & (blue <= 130)).mean())


def _eye_pairs(gray: np.ndarray, smallest: int) -> list[tuple[float, float, float]]:
    """Face boxes inferred from pairs of eyes: two boxes of about one size, level, 1-2 box sides
    apart (what the eye cascade gives on faces; fitted on celeba_face at 256 px, where it finds
    the eyes). The box is placed as the face cascade would have (EYE_PAIR_BOX)."""
    eyes = np.asarray(_cascade(EYES).detectMultiScale(gray, SCALE_STEP, 3, minSize=(16, 16))).reshape(-1, 4)
    centres = [(x + w / 2, y + w / 2, float(w)) for x, y, w, _ in eyes]
    found = []
    for x1, y1, w1 in centres:
        for x2, y2, w2 in centres:
            size = (w1 + w2) / 2
            spacing = x2 - x1
            if max(w1, w2) < 1.5 * min(w1, w2) and abs(y2 - y1) < 0.5 * size and size < spacing < 2 * size:
                side = EYE_PAIR_BOX[0] * spacing
                centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2 + EYE_PAIR_BOX[1] * spacing
                if side >= smallest:
                    found.append((centre_x - side / 2, centre_y - side / 2, side))
    return found


def _confirmed(eroded: np.ndarray, x: int, y: int, side: int) -> bool:
    """Does the CONFIRM cascade also see a face of about this size around this box? (alt2 alone fired
    on 3 of the 100 face_like stand-ins at 128 px and 2 at 256 px; with this, on none, and it found
    as many of the faces.)"""
    margin = side * 2 // 5
    region = eroded[max(0, y - margin) : y + side + margin, max(0, x - margin) : x + side + margin]
    least, most = int(side * 0.7), int(side * 1.4) + 1
    return len(_cascade(CONFIRM).detectMultiScale(region, SCALE_STEP, 2, minSize=(least, least),
                                                  maxSize=(most, most))) > 0  # fmt: skip


_local = threading.local()
_importing = threading.Lock()


def _opencv():
    """cv2, imported lazily (`starbatch --help` stays light) under a lock: reader threads start
    detecting at once, and a second thread can see cv2 half-imported (no `cv2.data` yet)."""
    with _importing:
        import cv2
        import cv2.data  # noqa: F401 - the cascade files' folder

        # One photo per reader thread already: OpenCV's own pool would only fight them and the model
        # for the cores (3-6% slower with detection on 2 cores, benchmarks/results/edit_cpu.md).
        cv2.setNumThreads(1)
    return cv2


def _cascade(name: str):
    """One classifier per file and thread (reader threads detect in parallel; OpenCV does not
    promise that one CascadeClassifier is safe to share)."""
    cascades = _local.__dict__.setdefault("cascades", {})
    if name not in cascades:
        cv2 = _opencv()
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            from starbatch.errors import StarbatchError

            raise StarbatchError(f"OpenCV has no {name} (opencv-python-headless 4.x ships it; 5.x does not)")
        cascades[name] = cascade
    return cascades[name]


def _one_box_per_face(faces: list[Detection]) -> list[Detection]:
    """Non-maximum suppression, largest first (see the module docstring for the rules)."""
    kept: list[Detection] = []
    for face in sorted(faces, key=lambda f: -f.side):
        if not any(_same_face(face, bigger) for bigger in kept):
            kept.append(face)
    return kept


def _same_face(small: Detection, big: Detection) -> bool:
    overlap_w = min(small.left + small.side, big.left + big.side) - max(small.left, big.left)
    overlap_h = min(small.top + small.side, big.top + big.side) - max(small.top, big.top)
    overlap = max(0.0, overlap_w) * max(0.0, overlap_h)
    union = small.side**2 + big.side**2 - overlap
    if overlap / union > 0.3 or overlap > 0.6 * small.side**2:
        return True
    if small.side < 0.5 * big.side:
        reach = big.side * CROP_SCALE / 2
        (x, y), (bx, by) = small.centre, big.centre
        return abs(x - bx) < reach and abs(y - by - CROP_SHIFT * big.side) < reach
    return False
