"""The face detector (starbatch/face_detection.py) on synthetic faces and face-free pictures, on CPU.

- recall: share of `celeba_face(0, i)` and `rafd_face(0, i // 8, expression)` images where the
  largest box lands on the face (its centre within 0.2 of the frame of the frame's centre), at
  the renderer's 128 px and resized (--scales); by skin tone (CelebA-style, thirds by luminance);
- crop: the fitted crop (CROP_SCALE, CROP_SHIFT) against the whole 128 px frame, which is the
  training framing: median IoU, and the scale and shift a fit on these faces gives;
- false positives: face-free pictures with any box (the renderer's backgrounds without a person,
  gradients, noise, random shapes, the tests' `face_like` stand-ins);
- tilted heads: recall with the faces turned 0-30 degrees, with and without the turned search; and
  how close the model's input comes to the same face level, with upright crops, turned crops
  from the turned search, and eye levelling too;
- cost: ms per photo at a few sizes, one thread, against G's time per image (official size).

    python benchmarks/face_detection.py --faces 300 --negatives 500
"""

import argparse
import time

import numpy as np
from PIL import Image, ImageDraw

from starbatch.faces import detection as fd
from starbatch.models.stargan_v1.labels import RAFD_EXPRESSIONS
from starbatch.synthetic.faces import SIZE, background_picture, celeba_face, rafd_face, sample_person
from starbatch.synthetic.pictures import face_like


def negatives(count: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    pictures = []
    for i in range(count):
        kind = i % 5
        if kind == 0:  # what synthetic/faces.py draws behind a person, without the person
            scene = np.random.default_rng([seed, i])
            picture = background_picture(scene, bool(scene.random() < 0.2))
        elif kind == 1:
            a, b, d = rng.random(3), rng.random(3), rng.normal(size=2)
            t = x * d[0] + y * d[1]
            t = (t - t.min()) / (np.ptp(t) + 1e-6)
            picture = ((a + (b - a) * t[..., None]) * 255).astype(np.uint8)
        elif kind == 2:
            noise = rng.normal(128, rng.uniform(5, 80), (SIZE, SIZE, 3))
            if rng.random() < 0.5:
                noise = np.asarray(Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).resize(
                    (SIZE // 4, SIZE // 4)).resize((SIZE, SIZE), Image.BICUBIC), dtype=np.float32)  # fmt: skip
            picture = np.clip(noise, 0, 255).astype(np.uint8)
        elif kind == 3:
            image = Image.new("RGB", (SIZE, SIZE), tuple(int(c) for c in rng.integers(0, 256, 3)))
            draw = ImageDraw.Draw(image)
            for _ in range(int(rng.integers(3, 15))):
                x0, y0 = (int(v) for v in rng.integers(-20, SIZE, 2))
                w, h = (int(v) for v in rng.integers(4, 70, 2))
                shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
                shape((x0, y0, x0 + w, y0 + h), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
            picture = np.asarray(image)
        else:
            picture = face_like(int(rng.integers(64, 200)), int(rng.integers(64, 200)), seed=i)
        pictures.append(picture)
    return pictures


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1:
        return rgb
    height, width = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((round(width * scale), round(height * scale)), Image.BICUBIC))


def on_face(face: fd.Detection, side: int) -> bool:
    x, y = face.centre
    return abs(x - side / 2) < 0.2 * side and abs(y - side / 2) < 0.2 * side


def iou(a: fd.FaceBox, b: fd.FaceBox) -> float:
    w = min(a.left + a.side, b.left + b.side) - max(a.left, b.left)
    h = min(a.top + a.side, b.top + b.side) - max(a.top, b.top)
    inter = max(0, w) * max(0, h)
    return inter / (a.side**2 + b.side**2 - inter)


def tilted_recall(faces: list[np.ndarray], angles=(0, 10, 20, 30)) -> None:
    """Faces at 256 px turned in the picture plane, with and without the turned search (_tilted)."""
    search = fd._tilted
    for angle in angles:
        counts = {}
        for label, turned_search in (("without", lambda gray, smallest: []), ("with", search)):
            fd._tilted = turned_search
            hits = 0
            for index, rgb in enumerate(faces):
                upright = Image.fromarray(rgb).resize((2 * SIZE, 2 * SIZE), Image.BICUBIC)
                picture = upright.rotate(angle if index % 2 else -angle, resample=Image.BICUBIC,
                                         fillcolor=upright.getpixel((0, 0)))
                found = fd.detect_faces(np.asarray(picture))
                hits += bool(found) and on_face(found[0], 2 * SIZE)
            counts[label] = hits / len(faces)
        fd._tilted = search
        print(f"recall, heads turned {angle} degrees (256 px, {len(faces)} CelebA-style): "
              f"{counts['without']:.2f} upright search only, {counts['with']:.2f} with the turned search")


def turned_crops(count: int, angles=(0, 10, 15, 20, 25)) -> None:
    """How close the model's input for a turned face comes to the same face level: mean |difference|
    over the crop's middle (128 px input, [-1, 1] units), for upright crops only, with the turned
    search's crops, and with eye levelling as well (_levelled)."""
    from starbatch.inference.compositing import model_input
    from starbatch.media.images import Photo

    level = [Image.fromarray(celeba_face(0, i, level=True)[0]).resize((2 * SIZE, 2 * SIZE), Image.BICUBIC)
             for i in range(count)]  # fmt: skip
    references = []
    for face in level:
        boxes = fd.face_boxes(np.asarray(face))
        references.append(model_input(Photo(np.asarray(face), "RGB", "PNG"), boxes[0], SIZE) if boxes else None)
    levelled = fd._levelled
    for angle in angles:
        errors = {"upright crops": [], "turned search": [], "and eye levelling": []}
        for label in errors:
            fd._levelled = levelled if label == "and eye levelling" else (lambda gray, face: face)
            for index, (face, reference) in enumerate(zip(level, references, strict=True)):
                picture = np.asarray(face.rotate(angle if index % 2 else -angle, resample=Image.BICUBIC,
                                                 fillcolor=face.getpixel((0, 0))))  # fmt: skip
                boxes = fd.face_boxes(picture)
                if reference is None or not boxes:
                    continue
                box = boxes[0] if label != "upright crops" else fd.FaceBox(boxes[0].left, boxes[0].top, boxes[0].side)
                middle = (slice(None), slice(SIZE // 4, 3 * SIZE // 4), slice(SIZE // 4, 3 * SIZE // 4))
                errors[label].append(float(np.abs(model_input(Photo(picture, "RGB", "PNG"), box, SIZE)
                                                  - reference)[middle].mean()))  # fmt: skip
        fd._levelled = levelled
        print(f"model input vs the level face, heads turned {angle} degrees ({count} CelebA-style, 256 px): "
              + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in errors.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=300, help="images of each style")
    parser.add_argument("--negatives", type=int, default=500)
    parser.add_argument("--scales", default="0.75,1,2,3")
    parser.add_argument("--tilted", type=int, default=100, help="CelebA-style faces turned by each angle")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    sets = {
        "celeba": [celeba_face(0, i)[0] for i in range(args.faces)],
        "rafd": [rafd_face(0, i // 8, RAFD_EXPRESSIONS[i % 8]) for i in range(args.faces)],
    }
    print(f"detector: {fd.CASCADE}, scaleFactor {fd.SCALE_STEP}, minNeighbors {fd.MIN_NEIGHBOURS}, "
          f"erode {fd.ERODE}, work side {fd.WORK_SIDE}, OpenCV {cv2.__version__}")
    for scale in (float(s) for s in args.scales.split(",")):
        line = []
        for name, images in sets.items():
            hits = wrong = 0
            for rgb in images:
                picture = resized(rgb, scale)
                found = fd.detect_faces(picture)
                hits += bool(found) and on_face(found[0], picture.shape[0])
                wrong += bool(found) and not on_face(found[0], picture.shape[0])
            line.append(f"{name} {hits / len(images):.3f} (largest box off the face: {wrong})")
        print(f"recall at {round(SIZE * scale)} px: " + "; ".join(line))

    tones = [float(sample_person(np.random.default_rng([0, 0, i])).skin @ [0.299, 0.587, 0.114])
             for i in range(args.faces)]  # fmt: skip (celeba_face draws the person first)
    found = [fd.detect_faces(rgb) for rgb in sets["celeba"]]
    order = np.argsort(tones)
    thirds = np.array_split(order, 3)
    print("celeba recall by skin luminance: " + ", ".join(
        f"{tones[t[0]]:.2f}-{tones[t[-1]]:.2f}: {np.mean([bool(found[i]) for i in t]):.2f}" for t in thirds))

    tilted_recall(sets["celeba"][: args.tilted])
    turned_crops(args.tilted)

    frame = fd.FaceBox(0, 0, SIZE)
    boxes = [f[0] for f in found if f and on_face(f[0], SIZE)]
    crops = [fd.face_crop(b, 10**6, 10**6) for b in boxes]  # not clamped to the frame: where it wants to be
    unclamped = crops
    scale_fit = np.median([SIZE / b.side for b in boxes])
    shift_fit = np.median([(SIZE / 2 - b.centre[1]) / b.side for b in boxes])
    print(f"crop (unclamped) vs the 128 px training frame ({len(boxes)} faces): IoU median "
          f"{np.median([iou(c, frame) for c in crops]):.3f}, 10th percentile "
          f"{np.percentile([iou(c, frame) for c in crops], 10):.3f}; crop side / 128 median "
          f"{np.median([c.side for c in unclamped]) / SIZE:.3f}; fit on these faces: scale {scale_fit:.3f}, "
          f"shift {shift_fit:+.3f} (module: {fd.CROP_SCALE}, {fd.CROP_SHIFT:+})")

    pictures = negatives(args.negatives)
    kinds = ["rendered backgrounds", "gradients", "noise", "random shapes", "face_like stand-ins"]
    for scale in (1, 2):
        false = [0] * 5
        for i, picture in enumerate(pictures):
            false[i % 5] += bool(fd.detect_faces(resized(picture, scale)))
        print(f"false positives at {SIZE * scale} px: {sum(false)} of {len(pictures)} face-free pictures ("
              + ", ".join(f"{k} {n}" for k, n in zip(kinds, false, strict=True)) + ")")

    face = np.asarray(Image.fromarray(sets["celeba"][0]).resize((256, 256), Image.BICUBIC))
    rng = np.random.default_rng(0)
    for width, height in ((128, 128), (256, 256), (640, 480), (1024, 768), (4000, 3000)):
        photo = np.asarray(Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).resize((width, height)))
        photo = photo.copy()
        side = min(width, height, 256)
        photo[:side, :side] = np.asarray(Image.fromarray(face).resize((side, side)))
        blank = np.full_like(photo, 128)
        times = {}
        for label, picture in (("face", photo), ("no face", blank)):
            fd.detect_faces(picture)
            start = time.perf_counter()
            for _ in range(5):
                fd.detect_faces(picture)
            times[label] = (time.perf_counter() - start) / 5 * 1000
        print(f"cost at {width}x{height}: {times['face']:.1f} ms with a face, {times['no face']:.1f} ms without "
              "(both passes), one thread")


if __name__ == "__main__":
    main()
