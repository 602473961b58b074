"""CelebA and RaFD as distributed, and deterministic batches drawn from them.

CelebA: `images/` of aligned faces and `list_attr_celeba.txt`; split as the official loader does
(lines shuffled with seed 1234, the first 2000 for testing). RaFD: `train/<expression>/` and
`test/<expression>/`, classes numbered in sorted folder order (torchvision's ImageFolder).

Batches are a pure function of (seed, batch number, worker rank): the epoch's permutation and the
flips come from generators seeded by those numbers, so a resumed or sharded run sees exactly the
batches an uninterrupted one would, without saving any loader state.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v1.labels import RAFD_EXPRESSIONS, LabelSet, check_celeba_attributes

CELEBA_CROP = 178  # official: CenterCrop(178) of the 178x218 aligned images
RAFD_CROP = 256  # official RaFD crop
CELEBA_TEST_SIZE = 2000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class ImageSet:
    """Image files with their labels: (N, k) float binary attributes, or (N,) int class ids."""

    name: str
    paths: tuple[Path, ...]
    labels: np.ndarray
    crop: int

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int, image_size: int, flip: bool = False) -> torch.Tensor:
        """(3, S, S) float32 in [-1, 1]: flip, centre crop, resize, as the official transforms.

        The crop is capped at the image's shorter side: torchvision's CenterCrop would pad a
        smaller image with black, and generated faces are 128 px.
        """
        path = self.paths[index]
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except OSError as error:
            raise StarbatchError(f"{path}: unreadable image: {error}") from None
        if flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        side = min(self.crop, *image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        if side != image_size:
            image = image.resize((image_size, image_size), Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
        return torch.from_numpy(array.transpose(2, 0, 1).copy())


def read_attribute_file(path: Path, attributes: list[str] | tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """Rows of list_attr_celeba.txt as (file name, the selected attributes as 0/1)."""
    path = Path(path)
    if not path.is_file():
        raise StarbatchError(f"{path}: no such file (CelebA needs list_attr_celeba.txt)")
    lines = [line.rstrip() for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        raise StarbatchError(f"{path}: too short: expected a count line and an attribute-names line")
    names = lines[1].split()
    missing = [a for a in attributes if a not in names]
    if missing:
        raise StarbatchError(f"{path}: no column {missing[0]!r}; the header line has: "
                             f"{' '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
    columns = [names.index(a) for a in attributes]
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if len(fields) != len(names) + 1 or any(f not in ("1", "-1") for f in fields[1:]):
            raise StarbatchError(f"{path}:{number}: expected a file name and {len(names)} values "
                                 "of 1 or -1")
        values = np.array([fields[1 + c] == "1" for c in columns], dtype=np.float32)
        rows.append((fields[0], values))
    if not rows:
        raise StarbatchError(f"{path}: lists no images")
    return rows


def celeba_splits(root: Path, attributes: list[str] | tuple[str, ...],
                  test_size: int = CELEBA_TEST_SIZE) -> tuple[ImageSet, ImageSet]:
    """(train, test) as the official CelebA loader: shuffle with seed 1234, test images first.

    The official loop puts 1999 images in test ((i+1) < 2000); we take 2000. A set smaller than
    ten test sets (e.g. generated faces) gives a tenth of itself to test instead.
    """
    root = Path(root)
    check_celeba_attributes(attributes)
    rows = read_attribute_file(root / "list_attr_celeba.txt", attributes)
    random.Random(1234).shuffle(rows)
    test_size = min(test_size, len(rows) // 10)
    images = root / "images"
    if not images.is_dir():
        images = root / "img_align_celeba"  # the name inside the official zip
    if not images.is_dir():
        raise StarbatchError(f"{root}: no images/ folder beside list_attr_celeba.txt")
    missing = [name for name, _ in rows if not (images / name).is_file()]
    if missing:
        raise StarbatchError(f"{images / missing[0]}: listed in list_attr_celeba.txt but missing "
                             f"({len(missing)} missing in all)")

    def subset(part, name):
        return ImageSet(name, tuple(images / n for n, _ in part),
                        np.stack([v for _, v in part]) if part else np.zeros((0, len(attributes)),
                                                                             np.float32), CELEBA_CROP)

    return subset(rows[test_size:], "celeba-train"), subset(rows[:test_size], "celeba-test")


def rafd_split(root: Path, split: str) -> ImageSet:
    """RaFD's `split` folder: one sub-folder per expression, numbered in sorted order."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise StarbatchError(f"{folder}: no such folder (RaFD needs train/ and test/, each with "
                             f"one folder per expression: {', '.join(RAFD_EXPRESSIONS)})")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if tuple(classes) != RAFD_EXPRESSIONS:
        raise StarbatchError(f"{folder}: expression folders {classes} are not the RaFD set: "
                             f"{', '.join(RAFD_EXPRESSIONS)}")
    paths, labels = [], []
    for class_id, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [class_id] * len(files)
    if not paths:
        raise StarbatchError(f"{folder}: holds no images")
    return ImageSet(f"rafd-{split}", tuple(paths), np.array(labels, dtype=np.int64), RAFD_CROP)


RENDERED_MARK = "rendered.json"  # what `starbatch make-faces` writes beside its faces


def data_framing(dataset: str, celeba_dir: Path | str | None, rafd_dir: Path | str | None) -> str:
    """How the training faces are framed, for the model file (faces/alignment.py): "synthetic" when
    every folder trained on holds `starbatch make-faces` faces (its RENDERED_MARK, or, for folders
    made before the mark, 128x128 pictures: real CelebA aligned images are 178x218, RaFD's
    681x1024); "celeba" otherwise, the framing of CelebA's aligned images (the nearest one starbatch
    knows for real RaFD photos too)."""
    folders = [Path(folder) for folder, used in ((celeba_dir, dataset in ("celeba", "both")),
                                                 (rafd_dir, dataset in ("rafd", "both"))) if used and folder]
    return "synthetic" if folders and all(_rendered(folder) for folder in folders) else "celeba"


def _rendered(folder: Path) -> bool:
    if (folder / RENDERED_MARK).is_file():
        return True
    first = next((p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES), None)
    if first is None:
        return False
    with Image.open(first) as image:
        return image.size == (128, 128)


def splits(label_set: LabelSet, celeba_dir: Path | str | None,
           rafd_dir: Path | str | None) -> tuple[ImageSet, ImageSet]:  # fmt: skip
    """(train, test) of the data set a label set comes from (its labels: the CelebA attributes)."""
    if label_set.name == "celeba":
        if celeba_dir is None:
            raise StarbatchError("the model knows CelebA labels: give --celeba-dir")
        return celeba_splits(Path(celeba_dir), label_set.labels)
    if rafd_dir is None:
        raise StarbatchError("the model knows RaFD expressions: give --rafd-dir")
    return rafd_split(Path(rafd_dir), "train"), rafd_split(Path(rafd_dir), "test")


@dataclass(frozen=True)
class Batch:
    images: torch.Tensor  # (B, 3, S, S) in [-1, 1]
    labels: torch.Tensor  # (B, k) float for binary sets, (B,) int64 for one-hot sets


class Prefetching:
    """Batches by number from `make(k)`, each decoded on a thread while the step before computes."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
        self._ahead: dict[int, object] = {}
        self._lock = threading.Lock()

    def make(self, k: int):
        raise NotImplementedError

    def __getitem__(self, k: int):
        """Batch k, decoded on a thread while the previous step computes; k + 1 starts now."""
        with self._lock:
            future = self._ahead.pop(k, None) or self._pool.submit(self.make, k)
            self._ahead = {k + 1: self._ahead.get(k + 1) or self._pool.submit(self.make, k + 1)}
        return future.result()


class BatchStream(Prefetching):
    """The k-th training batch of one worker, the same however often it is asked for.

    Like DistributedSampler with drop_last: each epoch is a permutation seeded by (seed, epoch),
    cut into world_size * batch_size slices; worker `rank` takes its part of each slice.
    """

    def __init__(self, images: ImageSet, batch_size: int, image_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, flip: bool = True):
        per_epoch = len(images) // (batch_size * world_size)
        if per_epoch == 0:
            raise StarbatchError(f"{images.name}: {len(images)} images are fewer than one batch "
                                 f"({batch_size} x {world_size} workers)")
        self.images, self.batch_size, self.image_size = images, batch_size, image_size
        self.seed, self.rank, self.world_size, self.flip = seed, rank, world_size, flip
        self.per_epoch = per_epoch
        super().__init__()

    def indices(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, position = divmod(k, self.per_epoch)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.images))
        flips = rng.random(len(self.images)) < 0.5
        start = (position * self.world_size + self.rank) * self.batch_size
        chosen = order[start : start + self.batch_size]
        return chosen, flips[chosen] & self.flip

    def make(self, k: int) -> Batch:
        chosen, flips = self.indices(k)
        images = torch.stack([self.images.load(int(i), self.image_size, bool(f))
                              for i, f in zip(chosen, flips, strict=True)])
        return Batch(images, torch.from_numpy(self.images.labels[chosen]))


def fixed_batch(images: ImageSet, count: int, image_size: int) -> Batch:
    """The first `count` images, unflipped: the inputs of every sample grid."""
    count = min(count, len(images))
    return Batch(torch.stack([images.load(i, image_size) for i in range(count)]),
                 torch.from_numpy(images.labels[:count]))
