"""StarGAN v2's data: one folder per domain, and the official training batches, drawn deterministically.

Layout (official): DIR/<domain>/ images, domains numbered in sorted folder order (ImageFolder);
or DIR/train/<domain>/ with DIR/val/<domain>/ beside it, as `starbatch make-faces --domains` writes.

A batch (official InputFetcher): source images x with their domains y_org, a reference pair
(x_ref, x_ref2) of one domain y_trg per row, and two latent codes z, z2. Sources and references
are class-balanced (official WeightedRandomSampler with 1 / class count), each image augmented as
the official transform: a random resized crop (scale 0.8-1, ratio 0.9-1.1) with probability 0.5,
resize, horizontal flip with probability 0.5. Batch k is a pure function of (seed, k, rank), so a
resumed or sharded run sees exactly the batches an uninterrupted one would.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.train.data import IMAGE_SUFFIXES, Prefetching

CROP_PROBABILITY, CROP_SCALE, CROP_RATIO = 0.5, (0.8, 1.0), (0.9, 1.1)  # official main.py / data_loader.py
# A set whose decoded pixels fit in this (estimated from its first image) is decoded once and kept:
# decoding is 3/4 of a batch's cost (0.35 of 0.46 ms a 128 px face), which a GPU run would wait
# for; the demo's 3600 faces hold 0.18 GB. Larger sets (CelebA-HQ, AFHQ) are decoded every time.
DECODED_CACHE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class DomainImages:
    """Image files with their domain numbers, the domains in sorted folder order."""

    name: str
    domains: tuple[str, ...]
    paths: tuple[Path, ...]
    labels: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.paths)

    def of_domain(self, domain: int) -> np.ndarray:
        return np.flatnonzero(self.labels == domain)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_domains(folder: Path, name: str) -> DomainImages:
    """Every image under folder/<domain>/, numbered by sorted domain name."""
    domains = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(domains) < 2:
        raise StarbatchError(f"{folder}: needs a folder per domain, two or more (found {len(domains)})")
    paths, labels = [], []
    for number, domain in enumerate(domains):
        files = _images_in(folder / domain)
        if not files:
            raise StarbatchError(f"{folder / domain}: domain folder without images "
                                 f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        paths += files
        labels += [number] * len(files)
    return DomainImages(name, tuple(domains), tuple(paths), np.array(labels, dtype=np.int64))


def domain_splits(root: Path | str) -> tuple[DomainImages, DomainImages | None]:
    """(train, val or None): DIR/train + DIR/val when DIR/train holds domain folders, else DIR itself."""
    root = Path(root)
    if not root.is_dir():
        raise StarbatchError(f"{root}: no such folder (--data needs one folder per domain)")
    train_dir = root / "train"
    if train_dir.is_dir() and any(p.is_dir() for p in train_dir.iterdir()):
        train = read_domains(train_dir, "train")
        val = read_domains(root / "val", "val") if (root / "val").is_dir() else None
        if val is not None and val.domains != train.domains:
            raise StarbatchError(f"{root / 'val'}: domains {list(val.domains)} differ from train's "
                                 f"{list(train.domains)}")
        return train, val
    return read_domains(root, "train"), None


def load_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except OSError as error:
        raise StarbatchError(f"{path}: unreadable image: {error}") from None
    return image


def to_tensor(image: Image.Image) -> torch.Tensor:
    """(3, H, W) float32 in [-1, 1] (official ToTensor + Normalize(0.5, 0.5))."""
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def crop_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a random resized crop, as torchvision's RandomResizedCrop.get_params:
    ten tries at an area fraction in CROP_SCALE and a log-uniform aspect in CROP_RATIO, else the centre."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        aspect = math.exp(rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            return left, top, left + w, top + h
    side = min(width, height)  # the ratio range holds 1: a centred square
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def augmented(image: Image.Image, image_size: int, rng: np.random.Generator) -> torch.Tensor:
    """The official training transform of one image: maybe crop, resize, maybe flip."""
    if rng.random() < CROP_PROBABILITY:
        image = image.crop(crop_box(image.width, image.height, rng))
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(image)


def plain(path: Path, image_size: int) -> torch.Tensor:
    """An image resized, not augmented: sample grids and evaluation."""
    image = load_image(path)
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.BILINEAR)
    return to_tensor(image)


@dataclass(frozen=True)
class DomainBatch:
    x_real: torch.Tensor  # (B, 3, S, S)
    y_org: torch.Tensor  # (B,) int64
    x_ref: torch.Tensor
    x_ref2: torch.Tensor
    y_trg: torch.Tensor
    z_trg: torch.Tensor  # (B, latent_dim)
    z_trg2: torch.Tensor


class DomainBatches(Prefetching):
    """Batch k of one worker, the same however often it is asked for."""

    def __init__(self, images: DomainImages, batch_size: int, image_size: int, latent_dim: int, seed: int = 0,
                 rank: int = 0, decoded_cache_bytes: int = DECODED_CACHE_BYTES):
        super().__init__()
        self.images, self.batch_size, self.image_size, self.latent_dim = images, batch_size, image_size, latent_dim
        self.seed, self.rank = seed, rank
        self.per_domain = [images.of_domain(d) for d in range(len(images.domains))]
        first = load_image(images.paths[0])
        self.keeps_decoded = len(images) * first.width * first.height * 3 <= decoded_cache_bytes
        # kept images by index (dict reads and writes are atomic: the batch thread and a caller may share it)
        self._decoded: dict[int, Image.Image] = {0: first} if self.keeps_decoded else {}

    def image(self, index: int) -> Image.Image:
        """Image `index`, decoded (once, where the set fits DECODED_CACHE_BYTES)."""
        image = self._decoded.get(index)
        if image is None:
            image = load_image(self.images.paths[index])
            if self.keeps_decoded:
                self._decoded[index] = image
        return image

    def _balanced(self, rng: np.random.Generator, domains: np.ndarray, count: int = 1) -> np.ndarray:
        """(B, count) images of each row's domain: a uniform class, then a uniform image of it, as a
        sampler weighting each image by 1 / its class count; a pair is two different images where it can."""
        rows = []
        for domain in domains:
            pool = self.per_domain[domain]
            rows.append(rng.choice(pool, size=count, replace=len(pool) < count))
        return np.array(rows)

    def make(self, k: int) -> DomainBatch:
        rng = np.random.default_rng([self.seed, k, self.rank])
        domains = len(self.images.domains)
        y_org = rng.integers(domains, size=self.batch_size)
        y_trg = rng.integers(domains, size=self.batch_size)
        sources = self._balanced(rng, y_org)[:, 0]
        pairs = self._balanced(rng, y_trg, 2)

        def load(indices):
            return torch.stack([augmented(self.image(int(i)), self.image_size, rng) for i in indices])

        x_real, x_ref, x_ref2 = load(sources), load(pairs[:, 0]), load(pairs[:, 1])
        noise = torch.Generator().manual_seed(int(rng.integers(2**62)))
        z = torch.randn(2, self.batch_size, self.latent_dim, generator=noise)
        return DomainBatch(x_real, torch.from_numpy(y_org), x_ref, x_ref2, torch.from_numpy(y_trg), z[0], z[1])
