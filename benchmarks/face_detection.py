"""Face detection and alignment on CPU: RetinaFace (starbatch/faces/retinaface.py), (the Haar cascades
it replaced were measured beside it before they were removed: benchmarks/results/face_detection_cpu.md).

- recall by face size and by turn: rendered faces (`celeba_face`, `rafd_face`, with the landmarks
  they were drawn with) placed in 640x480 photos over face-free backgrounds, resized to a face
  width (cheek to cheek: the eye distance / 0.38 in the renderer) and turned in the picture
  plane; in a 4000x3000 photo (40-64 px faces) and a 1280x960 group photo (8 faces, 40-120 px).
  A hit: a box whose landmarks' centre lies within 0.25 face widths of the drawn landmarks'
  centre, of side 0.5-2 face widths.
- landmarks: mean distance from the drawn landmarks, in eye distances (NME), and its mean offset
  per landmark in the face's own axes (how the detector's idea of an eye or a mouth corner
  differs from the renderer's);
- false boxes: pictures with any box among the renderer's face-free pictures
  (`face_free_picture`) at 128 px and stretched to 640x480, and the real face-free photos in
  tests/data;
- alignment: renderer faces placed in 1024x768 photos under a random turn (up to 30 degrees),
  width and position; per framing, the mean distance of the crop's corners from the ones its
  drawn landmarks give, as a share of the crop side (for `synthetic`: the crop that puts the drawn
  landmarks where the renderer draws them in its frames, MEAN_LANDMARKS);
- real faces (tests/data: scikit-image's astronaut, frontal, and cameraman, a three-quarter view
  half hidden by his camera; two official White House portraits, obama and biden): recall by width
  (the upright box's side, scaled) and turn in 640x480 photos; and the alignment error as above,
  where the truth is the portrait's own reading moved with it (what a detector can be asked for: to
  find the same crop wherever the face is put), and against the mean of all readings moved back
  (the readings' spread alone);
- aligned portraits (`--parts portraits`): each real face as a data set of aligned faces holds it,
  its CelebA-HQ crop (from the mean of its readings at six sizes), placed 64-400 px wide, turned up
  to 30 degrees, in 1024x768 pictures; the mean distance of the CelebA-HQ crop found from the
  placed square's corners, as a share of its side;
- real textures: faces of 40-64 px placed on the real face-free photos (recall, ms per photo), and
  those photos alone at 640x480 and 1280x960 (boxes, ms per photo: where weak boxes pile up);
- cost: ms per photo on one thread, CPU time of the calling thread (onnxruntime runs there with
  one thread; shared machines inflate wall time), best and median of repeats, with a face and
  without;
- min-face: ms per 1920x1080 and 4000x3000 photo with a 300 px face at larger `min_face` values
  (`--min-face`), as a ratio to the default 40 measured in the same run;
- photos: real photos (tests/data's and `--photos DIR`s) as they are and enlarged 2x, ms per photo
  with LOOK_AGAIN as a ratio to every weak box looked at at every size, in the same run.

    python benchmarks/face_detection.py --faces 300 --negatives 500
    python benchmarks/face_detection.py --faces 300 --face-offset 300 --parts recall   # faces not tuned on
"""

import argparse
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from starbatch.faces import alignment
from starbatch.faces.retinaface import WEIGHTS, FaceDetector
from starbatch.models.stargan_v1.labels import RAFD_EXPRESSIONS
from starbatch.synthetic.faces import (
    FACE_FREE_KINDS,
    MEAN_LANDMARKS,
    SIZE,
    celeba_face_with_landmarks,
    face_free_picture,
    place_face,
    rafd_face_with_landmarks,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
EYE_SPAN = 0.76  # the renderer's eye distance in face units; a face is 2 units wide


def face_width(landmarks: np.ndarray) -> float:
    return float(np.hypot(*(landmarks[1] - landmarks[0]))) * 2 / EYE_SPAN


def background(index: int, width: int, height: int) -> np.ndarray:
    """A face-free picture stretched to width x height (bicubic)."""
    return np.asarray(Image.fromarray(face_free_picture(index, seed=7)).resize((width, height), Image.BICUBIC))


def matching(faces, landmarks: np.ndarray):
    """The found face that is the drawn one (see the module docstring), or None."""
    width, centre = face_width(landmarks), landmarks.mean(axis=0)
    for face in faces:
        if np.hypot(*(face.landmarks.mean(axis=0) - centre)) < 0.25 * width and 0.5 * width < face.side < 2 * width:
            return face
    return None


def haar_matching(boxes, landmarks: np.ndarray) -> bool:
    width, centre = face_width(landmarks), landmarks.mean(axis=0)
    return any(np.hypot(*(np.array(b.centre) - centre)) < 0.35 * width and 0.5 * width < b.side < 2.5 * width
               for b in boxes)


def placed(faces, index: int, width: float, turn: float, photo=(640, 480), rng=None):
    """Face `index` of `faces` in a photo: (picture, drawn landmarks there)."""
    image, landmarks = faces[index]
    rng = rng or np.random.default_rng(index)
    side = SIZE * width / face_width(landmarks)
    margin = side * 0.75
    centre = (rng.uniform(min(margin, photo[0] / 2), max(photo[0] - margin, photo[0] / 2)),
              rng.uniform(min(margin, photo[1] / 2), max(photo[1] - margin, photo[1] / 2)))
    return place_face(background(index, *photo), image, landmarks, side, turn, centre)


def recall(detector, sets, widths, turns, haar=None) -> None:
    print("recall (RetinaFace" + (", Haar" if haar else "") + "), faces in 640x480 photos:")
    for name, faces in sets.items():
        for turn in turns:
            line = []
            for width in widths:
                hits = haar_hits = 0
                for index in range(len(faces)):
                    picture, landmarks = placed(faces, index, width, turn if index % 2 else -turn)
                    hits += matching(detector.detect(picture), landmarks) is not None
                    if haar:
                        haar_hits += haar_matching(haar(picture), landmarks)
                haar_recall = f" / {haar_hits / len(faces):.3f}" if haar else ""
                line.append(f"{width} px {hits / len(faces):.3f}{haar_recall}")
            print(f"  {name}, turned {turn} degrees: " + ", ".join(line))


def large_and_group(detector, faces, haar=None) -> None:
    rng = np.random.default_rng(3)
    hits = haar_hits = total = 0
    for photo_index in range(len(faces) // 8):
        picture = background(photo_index, 4000, 3000)
        drawn = []
        for k in range(8):  # a row of small faces across a large photo
            image, landmarks = faces[photo_index * 8 + k]
            width = rng.uniform(40, 64)
            side = SIZE * width / face_width(landmarks)
            picture, points = place_face(picture, image, landmarks, side, rng.normal(0, 8),
                                         (250 + 480 * k + rng.uniform(-80, 80), rng.uniform(300, 2700)))
            drawn.append(points)
        found = detector.detect(picture)
        hits += sum(matching(found, points) is not None for points in drawn)
        if haar:
            boxes = haar(picture)
            haar_hits += sum(haar_matching(boxes, points) for points in drawn)
        total += len(drawn)
    print(f"recall, 40-64 px faces in 4000x3000 photos ({total} faces): {hits / total:.3f}"
          + (f" (Haar {haar_hits / total:.3f})" if haar else ""))
    hits = haar_hits = total = extra = 0
    for photo_index in range(len(faces) // 8):
        picture = background(photo_index + 100, 1280, 960)
        drawn = []
        for k in range(8):  # two rows of four, sizes mixed
            image, landmarks = faces[photo_index * 8 + k]
            width = rng.uniform(40, 120)
            side = SIZE * width / face_width(landmarks)
            picture, points = place_face(picture, image, landmarks, side, rng.normal(0, 8),
                                         (160 + 320 * (k % 4) + rng.uniform(-40, 40), 240 + 480 * (k // 4)))
            drawn.append(points)
        found = detector.detect(picture)
        matched = [matching(found, points) for points in drawn]
        hits += sum(m is not None for m in matched)
        extra += len(found) - len({id(m) for m in matched if m is not None})
        if haar:
            boxes = haar(picture)
            haar_hits += sum(haar_matching(boxes, points) for points in drawn)
        total += len(drawn)
    print(f"recall, group photos (1280x960, 8 faces of 40-120 px; {total} faces): {hits / total:.3f}, "
          f"boxes on no drawn face: {extra}" + (f" (Haar {haar_hits / total:.3f})" if haar else ""))


def landmark_error(detector, faces) -> None:
    errors, offsets = [], []
    for index in range(len(faces)):
        picture, landmarks = placed(faces, index, 128, 0)
        face = matching(detector.detect(picture), landmarks)
        if face is None:
            continue
        eyes = landmarks[1] - landmarks[0]
        span = np.hypot(*eyes)
        right, down = eyes / span, np.array([-eyes[1], eyes[0]]) / span
        difference = (face.landmarks - landmarks) / span
        errors.append(np.hypot(*difference.T).mean())
        offsets.append(np.stack([difference @ right, difference @ down], axis=1))
    names = ("left eye", "right eye", "nose", "left mouth", "right mouth")
    mean = np.mean(offsets, axis=0)
    print(f"landmarks vs drawn (128 px faces, {len(errors)}): NME {np.mean(errors):.3f} (median "
          f"{np.median(errors):.3f}, 90th percentile {np.percentile(errors, 90):.3f}) eye distances; mean offset "
          "(right, down): " + ", ".join(f"{n} ({x:+.3f}, {y:+.3f})" for n, (x, y) in zip(names, mean, strict=True)))


def false_boxes(detector, count: int, haar=None) -> None:
    pictures = [face_free_picture(i) for i in range(count)]
    for label, size in (("128 px", None), ("640x480", (640, 480))):
        counts, haar_counts, best = [0] * len(FACE_FREE_KINDS), 0, 0.0
        for index, picture in enumerate(pictures):
            if size:
                picture = np.asarray(Image.fromarray(picture).resize(size, Image.BICUBIC))
            found = detector.detect(picture)
            counts[index % len(FACE_FREE_KINDS)] += bool(found)
            if haar:
                haar_counts += bool(haar(picture))
        loose = FaceDetector(detector.weights, score_threshold=0.05, min_face=detector.min_face, refine=False)
        for picture in pictures[:100]:
            if size:
                picture = np.asarray(Image.fromarray(picture).resize(size, Image.BICUBIC))
            best = max([best] + [face.score for face in loose.detect(picture)])
        print(f"false boxes at {label}: {sum(counts)} of {count} pictures ("
              + ", ".join(f"{k} {n}" for k, n in zip(FACE_FREE_KINDS, counts, strict=True))
              + f"); best score on the first 100: {best:.3f}" + (f"; Haar {haar_counts}" if haar else ""))
    real = sorted((DATA / "face_free").glob("*.jpg"))
    if real:
        loose = FaceDetector(detector.weights, score_threshold=0.05, min_face=detector.min_face, refine=False)
        scores = {p.stem: max([0.0] + [f.score for f in loose.detect(np.asarray(Image.open(p).convert("RGB")))])
                  for p in real}
        boxed = [name for name, score in scores.items() if score > detector.score_threshold]
        print(f"real face-free photos (tests/data/face_free): {len(boxed)} of {len(real)} with a box; best scores "
              + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))


def alignment_error(detector, faces, count: int) -> None:
    rng = np.random.default_rng(11)
    errors = {name: [] for name in ("celeba", "celeba-hq", "synthetic")}
    widths, missed = [], 0
    for trial in range(count):
        image, landmarks = faces[trial % len(faces)]
        width = float(np.exp(rng.uniform(np.log(48), np.log(320))))
        turn = rng.uniform(-30, 30)
        side = SIZE * width / face_width(landmarks)
        centre = (rng.uniform(width, 1024 - width), rng.uniform(width, 768 - width))  # the face inside the photo
        picture, drawn = place_face(background(trial, 1024, 768), image, landmarks, side, turn, centre)
        face = matching(detector.detect(picture), drawn)
        if face is None:
            missed += 1
            continue
        widths.append(width)
        for name in errors:
            framing, size = alignment.framing(name), 256
            if name == "synthetic":  # the truth: the drawn landmarks where the renderer draws them in its frames
                true = alignment.crop_corners(alignment.similarity_transform(drawn, MEAN_LANDMARKS * size), size)
            else:
                true = alignment.crop_corners(framing.crop_transform(drawn, size), size)
            found = alignment.crop_corners(framing.crop_transform(face.landmarks, size), size)
            crop_side = np.hypot(*(true[1] - true[0]))
            errors[name].append(np.hypot(*(found - true).T).mean() / crop_side)
    widths = np.array(widths)
    print(f"alignment: {count} rendered faces in 1024x768 photos, turned up to 30 degrees, 48-320 px wide "
          f"({missed} not found): mean corner distance / crop side")
    for name, values in errors.items():
        values = np.array(values)
        by_width = ", ".join(f"{lo}-{hi} px {values[(widths >= lo) & (widths < hi)].mean():.4f}"
                             for lo, hi in ((48, 80), (80, 160), (160, 321)))
        print(f"  {name}: mean {values.mean():.4f}, median {np.median(values):.4f}, 90th percentile "
              f"{np.percentile(values, 90):.4f}, worst {values.max():.4f}; by width: {by_width}")


REAL_FACES = ("astronaut", "cameraman", "obama", "biden")


def real_faces(detector, widths, turns, placements: int = 12, haar=None) -> None:
    """The real faces of tests/data placed at each width and turn (left and right in turn)."""
    for name in REAL_FACES:
        photo = np.asarray(Image.open(DATA / f"{name}.jpg").convert("RGB"))
        reference = detector.detect(photo)[0]
        print(f"real face: {name} (upright: box side {reference.side:.0f} px in 256, score {reference.score:.3f})")
        for turn in turns:
            line = []
            for width in widths:
                hits = haar_hits = 0
                rng = np.random.default_rng(width + turn)
                for k in range(placements):
                    margin = 0.6 * width  # the face inside the photo
                    centre = (rng.uniform(margin, 640 - margin), rng.uniform(margin, 480 - margin))
                    picture, drawn = place_face(background(k, 640, 480), photo, reference.landmarks,
                                                256 * width / reference.side, turn if k % 2 else -turn, centre)
                    near = [f for f in detector.detect(picture)
                            if np.hypot(*(f.landmarks.mean(axis=0) - drawn.mean(axis=0))) < 0.3 * width]
                    hits += bool(near)
                    if haar:
                        haar_hits += any(np.hypot(*(np.array(b.centre) - drawn.mean(axis=0))) < 0.4 * width
                                         for b in haar(picture))
                line.append(f"{width} px {hits}/{placements}" + (f" (Haar {haar_hits})" if haar else ""))
            print(f"  turned {turn} degrees: " + ", ".join(line))


def real_alignment(detector, count: int = 48) -> None:
    for name in REAL_FACES:
        photo = np.asarray(Image.open(DATA / f"{name}.jpg").convert("RGB"))
        reference = detector.detect(photo)[0]
        rng = np.random.default_rng(5)
        readings, widths = [], []
        for trial in range(count):
            width = float(np.exp(rng.uniform(np.log(48), np.log(300))))
            centre = (rng.uniform(width, 1024 - width), rng.uniform(width, 768 - width))
            picture, drawn = place_face(background(trial, 1024, 768), photo, reference.landmarks,
                                        256 * width / reference.side, rng.uniform(-30, 30), centre)
            moved = alignment.similarity_transform(reference.landmarks, drawn)
            near = [f for f in detector.detect(picture)
                    if np.hypot(*(f.landmarks.mean(axis=0) - drawn.mean(axis=0))) < 0.3 * width]
            if near:
                readings.append((moved, near[0].landmarks))
                widths.append(width)
        consensus = np.mean([alignment.apply(alignment.invert(m), found) for m, found in readings], axis=0)
        print(f"alignment, real face {name}: {count} placements in 1024x768 photos, turned up to 30 degrees, "
              f"48-300 px wide ({count - len(readings)} not found): mean corner distance / crop side")
        for framing_name in ("celeba-hq", "celeba", "synthetic"):
            framing, line = alignment.framing(framing_name), []
            for label, truth in (("vs the upright reading", reference.landmarks), ("vs the mean reading", consensus)):
                errors = []
                for moved, found in readings:
                    true = alignment.crop_corners(framing.crop_transform(alignment.apply(moved, truth), 256), 256)
                    got = alignment.crop_corners(framing.crop_transform(found, 256), 256)
                    errors.append(np.hypot(*(got - true).T).mean() / np.hypot(*(true[1] - true[0])))
                line.append(f"{label} mean {np.mean(errors):.4f}, 90th percentile {np.percentile(errors, 90):.4f}, "
                            f"worst {np.max(errors):.4f}")
            print(f"  {framing_name}: " + "; ".join(line))


def mean_reading(detector, photo: np.ndarray) -> np.ndarray:
    """The landmarks of `photo`'s largest face: the mean of its readings with the photo shown at six
    sizes (one reading errs by a few percent of the face; the mean is the truth the portraits use)."""
    readings = []
    for scale in (0.75, 1.0, 1.5, 2.0, 2.5, 3.0):
        size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
        shown = np.asarray(Image.fromarray(photo).resize(size, Image.BICUBIC))
        readings.append(detector.detect(shown)[0].landmarks * (photo.shape[1] / size[0], photo.shape[0] / size[1]))
    return np.mean(readings, axis=0)


def portrait_alignment(detector, count: int = 24) -> None:
    """Real faces as a data set of aligned portraits holds them (CelebA-HQ), moved and turned."""
    square = np.array([(0, 0), (256, 0), (256, 256), (0, 256)], dtype=np.float64)
    framing, everyone = alignment.framing("celeba-hq"), []
    print(f"aligned portraits: each real face's CelebA-HQ crop (256 px) placed {count} times 64-400 px wide, turned "
          "up to 30 degrees, in 1024x768 photos; the CelebA-HQ crop found vs the placed square, mean corner "
          "distance / side")
    for name in REAL_FACES:
        photo = np.asarray(Image.open(DATA / f"{name}.jpg").convert("RGB"))
        portrait = alignment.warp_crop(photo, framing.crop_transform(mean_reading(detector, photo), 256), 256)
        rng = np.random.default_rng(11)
        errors, missed = [], 0
        for trial in range(count):
            side = float(np.exp(rng.uniform(np.log(64), np.log(400))))
            centre = (rng.uniform(0.72 * side, 1024 - 0.72 * side), rng.uniform(0.72 * side, 768 - 0.72 * side))
            picture, corners = place_face(background(trial, 1024, 768), portrait, square, side,
                                          rng.uniform(-30, 30), centre)
            near = [f for f in detector.detect(picture)
                    if np.hypot(*(f.landmarks.mean(axis=0) - corners.mean(axis=0))) < 0.3 * side]
            if not near:
                missed += 1
                continue
            found = alignment.crop_corners(framing.crop_transform(near[0].landmarks, 256), 256)
            errors.append(np.hypot(*(found - corners).T).mean() / side)
        everyone += errors if name != "cameraman" else []
        print(f"  {name}: mean {np.mean(errors):.4f}, 90th percentile {np.percentile(errors, 90):.4f}, "
              f"worst {np.max(errors):.4f} ({missed} not found)")
    print(f"  the frontal faces (all but cameraman): mean {np.mean(everyone):.4f}, "
          f"90th percentile {np.percentile(everyone, 90):.4f}")


def real_textures(detector, faces, count: int) -> None:
    """The real face-free photos (tests/data/face_free) as backgrounds, enlarged (bicubic): faces of
    40-64 px placed on them at 640x480 (recall, ms per photo), and the photos alone at five sizes
    from 640x480 to 1600x1200 (boxes, ms per photo: gravel and grass are where weak boxes pile up;
    a size the constants were not tuned at finds boxes the others do not)."""
    real = [Image.open(path).convert("RGB") for path in sorted((DATA / "face_free").glob("*.jpg"))]
    if not real:
        return
    print("real textures, every weak box looked at:")
    uncapped = _real_textures(FaceDetector(detector.weights, threads=1, score_threshold=detector.score_threshold,
                                           min_face=detector.min_face, weak_looks=math.inf), faces, real, count)
    print(f"real textures, {detector.weak_looks:g} second looks per WORK_PIXELS searched:")
    capped = _real_textures(detector, faces, real, count)
    print("  ms, capped / every box looked at: " + ", ".join(f"{k} {capped[k] / uncapped[k]:.2f}x" for k in capped))


def _real_textures(detector, faces, real, count: int) -> dict[str, float]:
    """Mean and worst ms per photo of each set (see real_textures); prints recall and boxes."""
    result = {}
    rng, hits, times = np.random.default_rng(11), 0, []
    for index in range(count):
        texture = np.asarray(real[index % len(real)].resize((640, 480), Image.BICUBIC))
        image, landmarks = faces[index % len(faces)]
        width = rng.uniform(40, 64)
        centre = (rng.uniform(width, 640 - width), rng.uniform(width, 480 - width))
        picture, drawn = place_face(texture, image, landmarks, SIZE * width / face_width(landmarks),
                                    rng.uniform(-30, 30), centre)
        start = time.thread_time()
        found = detector.detect(picture)
        times.append((time.thread_time() - start) * 1000)
        hits += matching(found, drawn) is not None
    print(f"  faces of 40-64 px on real face-free photos (640x480, {count}): recall {hits / count:.3f}, "
          f"{np.mean(times):.1f} ms per photo (worst {max(times):.1f})")
    result.update({"faces mean": np.mean(times), "faces worst": max(times)})
    for size in ((640, 480), (800, 600), (1024, 768), (1280, 960), (1600, 1200)):
        boxed, times = [], []
        for path, photo in zip(sorted((DATA / "face_free").glob("*.jpg")), real, strict=True):
            picture = np.asarray(photo.resize(size, Image.BICUBIC))
            start = time.thread_time()
            found = detector.detect(picture)
            times.append((time.thread_time() - start) * 1000)
            boxed += [f"{path.stem} ({face.side:.0f} px, {face.score:.2f})" for face in found]
        listed = f" ({', '.join(boxed)})" if boxed else ""
        print(f"  real face-free photos at {size[0]}x{size[1]}: {len(boxed)} boxes{listed}; "
              f"{np.mean(times):.1f} ms per photo (worst {max(times):.1f})")
        result.update({f"{size[0]} mean": np.mean(times), f"{size[0]} worst": max(times)})
    return result


def cost(detector, haar=None, repeats: int = 20) -> None:
    photo = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))  # the face 130 px wide when placed
    for width, height in ((640, 480), (1280, 960), (1920, 1080), (4000, 3000)):
        centre = (width / 2, height / 2)
        with_face, _ = place_face(background(1, width, height), photo, np.zeros((5, 2)), 300, 0, centre)
        line = []
        for label, picture in (("with a face", with_face), ("without", background(2, width, height))):
            for run, name in ((detector.detect, "RetinaFace"), (haar, "Haar")):
                if run is None:
                    continue
                run(picture)
                times = []
                for _ in range(repeats if width * height < 2e6 else 3):
                    start = time.thread_time()
                    run(picture)
                    times.append((time.thread_time() - start) * 1000)
                line.append(f"{name} {label} {min(times):.1f} ms (median {np.median(times):.1f})")
        print(f"cost at {width}x{height}, one thread: " + "; ".join(line))


def photo_cost(detector, folders) -> None:
    """Real photos as they are and enlarged 2x (bicubic): tests/data's and those of `folders` (e.g.
    OpenCV's samples/data, from its PyPI sdist). The detector against itself with every weak box
    looked at at every size (look_again 0, as before LOOK_AGAIN), in turn per photo: ms (CPU time of
    the thread), faces found, and the ratio of the totals."""
    paths = sorted(DATA.glob("*.jpg")) + sorted((DATA / "face_free").glob("*.jpg"))
    for folder in folders:
        paths += sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    every = FaceDetector(detector.weights, threads=1, score_threshold=detector.score_threshold,
                         min_face=detector.min_face, look_again=0.0)
    totals, found = {"gated": 0.0, "every": 0.0}, {"gated": 0, "every": 0}
    for warm_up in (detector, every):  # sessions made before the clock starts
        warm_up.detect(np.zeros((480, 640, 3), np.uint8))
    for path in paths:
        photo = Image.open(path).convert("RGB")
        for zoom in (1, 2):
            picture = np.asarray(photo.resize((photo.width * zoom, photo.height * zoom), Image.BICUBIC))
            sides = {}
            for name, run in (("gated", detector), ("every", every)):
                start = time.thread_time()
                sides[name] = sorted(round(face.side) for face in run.detect(picture))
                totals[name] += time.thread_time() - start
                found[name] += len(sides[name])
            if sides["gated"] != sides["every"]:
                print(f"  {path.name} x{zoom}: faces of {sides['gated']} px, every look: {sides['every']}")
    count = 2 * len(paths)
    gated, every_ms = 1000 * totals["gated"] / count, 1000 * totals["every"] / count
    print(f"real photos ({count}: {len(paths)} as they are and 2x): ms per photo, look_again "
          f"{detector.look_again:g} {gated:.1f} ({found['gated']} faces), every box at every size "
          f"{every_ms:.1f} ({found['every']} faces): {totals['gated'] / totals['every']:.2f}x")


def min_face_cost(min_faces, weights, repeats: int = 3) -> None:
    """`--min-face`: ms per large photo with a face (the astronaut's, 300 px wide) against the
    default 40 px measured in the same run, and whether the face is still found."""
    photo = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    for width, height in ((1920, 1080), (4000, 3000)):
        picture, _ = place_face(background(1, width, height), photo, np.zeros((5, 2)), 700, 0,
                                (width / 3, height / 2))
        baseline, line = None, []
        for min_face in (40, *min_faces):
            detector = FaceDetector(weights, threads=1, min_face=min_face)
            found = detector.detect(picture)
            times = []
            for _ in range(repeats):
                start = time.thread_time()
                detector.detect(picture)
                times.append((time.thread_time() - start) * 1000)
            baseline = baseline or min(times)
            line.append(f"{min_face} px {min(times):.0f} ms ({baseline / min(times):.1f}x, "
                        f"{len(found)} face{'' if len(found) == 1 else 's'})")
        print(f"--min-face at {width}x{height}, one thread, best of {repeats}: " + "; ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=300, help="faces of each style")
    parser.add_argument("--face-offset", type=int, default=0,
                        help="the first rendered face's index: another offset gives faces no constant was tuned on")
    parser.add_argument("--negatives", type=int, default=500)
    parser.add_argument("--widths", default="24,32,40,48,64,96,160,256,384")
    parser.add_argument("--turns", default="0,15,30,45")
    parser.add_argument("--alignment", type=int, default=500, help="faces placed for the alignment error")
    parser.add_argument("--haar", action="store_true", help="the Haar cascades too, where they are cheap")
    parser.add_argument("--textures", type=int, default=300, help="faces placed on real face-free photos")
    parser.add_argument("--parts",
                        default="recall,large,landmarks,false,alignment,real,portraits,textures,cost,min-face,photos")
    parser.add_argument("--threshold", type=float, default=None, help="score threshold (default: the module's)")
    parser.add_argument("--weights", type=Path, help="another RetinaFace ONNX file (default: the product's)")
    parser.add_argument("--min-faces", default="80,160,320", help="min_face values the min-face part compares with 40")
    parser.add_argument("--photos", action="append", default=[], type=Path,
                        help="a folder of real photos for the photos part (repeatable; tests/data's always)")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    threshold = {} if args.threshold is None else {"score_threshold": args.threshold}
    detector = FaceDetector(args.weights or WEIGHTS, threads=1, **threshold)
    haar = None
    if args.haar:  # the product dropped the cascades (issue 12); their numbers stay in the recorded results
        parser.error("--haar: starbatch no longer ships the Haar detector; run this script at commit 158229b "
                     "for its numbers (benchmarks/results/face_detection_cpu.md keeps them)")
    faces = range(args.face_offset, args.face_offset + args.faces)
    sets = {
        "celeba": [celeba_face_with_landmarks(0, i)[::2] for i in faces],
        "rafd": [rafd_face_with_landmarks(0, i // 8, RAFD_EXPRESSIONS[i % 8]) for i in faces],
    }
    parts = args.parts.split(",")
    print(f"RetinaFace: score threshold {detector.score_threshold}, min_face {detector.min_face}; "
          f"OpenCV {cv2.__version__}; {args.faces} faces of each style (from index {args.face_offset})")
    if "recall" in parts:
        widths = [int(w) for w in args.widths.split(",")]
        recall(detector, sets, widths, [0], haar)
        recall(detector, {"celeba": sets["celeba"]}, [96], [int(t) for t in args.turns.split(",")][1:], haar)
    if "large" in parts:
        large_and_group(detector, sets["celeba"], haar)
    if "landmarks" in parts:
        landmark_error(detector, sets["celeba"])
    if "false" in parts:
        false_boxes(detector, args.negatives, haar)
    if "alignment" in parts:
        alignment_error(detector, sets["celeba"] + sets["rafd"], args.alignment)
    if "real" in parts:
        real_faces(detector, [40, 48, 64, 96, 160, 256], [0, 15, 30, 45], haar=haar)
        real_alignment(detector)
    if "portraits" in parts:
        portrait_alignment(detector)
    if "textures" in parts:
        real_textures(detector, sets["celeba"], args.textures)
    if "cost" in parts:
        cost(detector, haar)
    if "min-face" in parts:
        min_face_cost([int(v) for v in args.min_faces.split(",")], detector.weights)
    if "photos" in parts:
        photo_cost(detector, args.photos)


if __name__ == "__main__":
    main()
