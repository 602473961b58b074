"""The paper's quantitative protocol (StarGAN section 5.5): an independent classifier judges translations.

As in the paper, a classifier (here a small CNN) is trained on the real images of each data set's
training split; every image of the test split is then translated to every target domain of its
data set, and the classifier checks that the target label is what it sees. Run it on a freshly made
face set the model never saw. Reported: classification error per domain and overall (a fraction),
the classifier's own error on the real test images (how far to trust it), and the reconstruction
L1 |x - G(G(x, c_trg), c_org)|.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from starbatch.checkpoint import LoadedModel
from starbatch.errors import StarbatchError
from starbatch.labels import BINARY, LabelSet, LabelSpace
from starbatch.train.data import ImageSet, celeba_splits, rafd_split
from starbatch.train.losses import classification
from starbatch.train.samples import domain_targets

CLASSIFIER_VERSION = 3
JUDGE_IMAGES = 10000  # per data set: enough to learn the labels, bounded memory on full CelebA


class DomainClassifier(nn.Module):
    """Conv-GroupNorm-ReLU stages down to 4x4, global average pool, one logit per label (no mask).

    GroupNorm, not BatchNorm: batches alternate between data sets, and BatchNorm's running
    statistics, a blend of both, cost the judge a third of its accuracy on hair colour (measured).
    """

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for out in (width, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(channels, out, 3, 2, 1, bias=False), nn.GroupNorm(8, out),
                       nn.ReLU(inplace=True), nn.Conv2d(out, out, 3, 1, 1, bias=False),
                       nn.GroupNorm(8, out), nn.ReLU(inplace=True)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


@dataclass
class EvalSet:
    label_set: LabelSet
    images: torch.Tensor  # (N, 3, S, S) test images: translated, and the judge's own check
    labels: torch.Tensor  # (N, k) float or (N,) int
    judge_images: torch.Tensor  # training split: what the judge learns from
    judge_labels: torch.Tensor


def _load_all(images: ImageSet, size: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    count = len(images) if limit is None else min(limit, len(images))
    stacked = torch.stack([images.load(i, size) for i in range(count)])
    return stacked, torch.from_numpy(images.labels[:count])


def eval_sets(space: LabelSpace, size: int, celeba_dir: Path | None, rafd_dir: Path | None,
              attributes: list[str], judge_images: int = JUDGE_IMAGES) -> list[EvalSet]:
    sets = []
    for label_set in space.sets:
        if label_set.name == "celeba":
            if celeba_dir is None:
                raise StarbatchError("the model knows CelebA labels: give --celeba-dir")
            train, test = celeba_splits(celeba_dir, attributes)
        else:
            if rafd_dir is None:
                raise StarbatchError("the model knows RaFD expressions: give --rafd-dir")
            train, test = rafd_split(rafd_dir, "train"), rafd_split(rafd_dir, "test")
        if len(test) == 0 or len(train) == 0:
            raise StarbatchError(f"{label_set.name}: the {'test' if len(test) == 0 else 'training'} "
                                 "split is empty; the judge trains on one and checks the other")
        images, labels = _load_all(test, size)
        sets.append(EvalSet(label_set, images, labels, *_load_all(train, size, judge_images)))
    return sets


def _classes(space: LabelSpace, logits: torch.Tensor, label_set: LabelSet) -> torch.Tensor:
    start = space.offset(label_set)
    return logits[:, start : start + len(label_set.labels)]


def train_classifier(space: LabelSpace, sets: list[EvalSet], epochs: int, seed: int = 0,
                     batch_size: int = 32) -> DomainClassifier:
    """Fit the classifier on the real training images (with flips), each set's loss on its part."""
    torch.manual_seed(seed)
    model = DomainClassifier(space.class_dim)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for s in sets:
            order = torch.randperm(len(s.judge_images), generator=generator)
            for start in range(0, len(order), batch_size):
                chosen = order[start : start + batch_size]
                x = s.judge_images[chosen]
                flip = torch.rand(len(chosen), generator=generator) < 0.5
                x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
                logits = _classes(space, model(x), s.label_set)
                loss = classification(logits, s.judge_labels[chosen], s.label_set.kind)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return model.eval()


def classifier_cache_key(space: LabelSpace, sets: list[EvalSet], size: int, epochs: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([CLASSIFIER_VERSION, space.to_metadata(), size, epochs]).encode())
    for s in sets:
        digest.update(s.judge_images.numpy().tobytes())
        digest.update(s.judge_labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_classifier(space: LabelSpace, sets: list[EvalSet], size: int, epochs: int,
                      cache_dir: Path | None) -> tuple[DomainClassifier, bool]:
    """The classifier for these exact training images: from cache_dir if trained before."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"classifier-{classifier_cache_key(space, sets, size, epochs)}.safetensors"
        if path.is_file():
            model = DomainClassifier(space.class_dim)
            model.load_state_dict(load_file(str(path)))
            return model.eval(), True
    model = train_classifier(space, sets, epochs)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, False


def _errors(space: LabelSpace, logits: torch.Tensor, label_set: LabelSet,
            target: np.ndarray, column: int | None) -> np.ndarray:
    """Per image: 1 where the classifier disagrees with the target label of the domain."""
    part = _classes(space, logits, label_set)
    start = space.offset(label_set)
    wanted = torch.from_numpy(target[:, start : start + len(label_set.labels)])
    if label_set.kind == BINARY:
        seen = (part[:, column] > 0).float()
        return (seen != wanted[:, column]).numpy().astype(np.float64)
    return (part.argmax(1) != wanted.argmax(1)).numpy().astype(np.float64)


@torch.no_grad()
def evaluate(model: LoadedModel, celeba_dir: Path | None, rafd_dir: Path | None,
             classifier_epochs: int = 30, cache_dir: Path | None = None,
             batch_size: int = 16, judge_images: int = JUDGE_IMAGES) -> dict:
    config = model.config
    space, size = config.labels, config.image_size
    attributes = list(space.by_name("celeba").labels) if "celeba" in [
        s.name for s in space.sets] else []
    sets = eval_sets(space, size, celeba_dir, rafd_dir, attributes, judge_images)
    with torch.enable_grad():
        classifier, cached = cached_classifier(space, sets, size, classifier_epochs, cache_dir)
    G = model.generator.cpu().eval()

    per_domain: dict[str, list[float]] = {}
    rec_sum, rec_count, real_errors = 0.0, 0, {}
    for s in sets:
        source_all = _full_source(space, s, s.labels)
        real_errors[s.label_set.name] = _errors_on_real(space, classifier, s, source_all, batch_size)
        targets = domain_targets(space, s.label_set, _part(s, s.labels))
        offset = sum(len(t.labels) for t in space.sets[: space.sets.index(s.label_set)])
        for column, name in enumerate(s.label_set.labels):
            target = targets[offset + column]
            errors = []
            for start in range(0, len(s.images), batch_size):
                x = s.images[start : start + batch_size]
                c_trg = torch.from_numpy(target[start : start + batch_size])
                c_org = torch.from_numpy(source_all[start : start + batch_size])
                fake = G(x, c_trg).float()
                errors.extend(_errors(space, classifier(fake), s.label_set,
                                      target[start : start + batch_size],
                                      column if s.label_set.kind == BINARY else None))
                rec = G(fake, c_org).float()
                rec_sum += (x - rec).abs().mean(dim=(1, 2, 3)).sum().item()
                rec_count += len(x)
            per_domain[f"{s.label_set.name}/{name}"] = errors
    every = [e for errors in per_domain.values() for e in errors]
    every_real = np.concatenate(list(real_errors.values()))
    return {
        "overall_error": float(np.mean(every)),
        "per_domain_error": {k: float(np.mean(v)) for k, v in per_domain.items()},
        "reconstruction_l1": rec_sum / max(rec_count, 1),
        "classifier_error_on_real_test_images": float(np.mean(every_real)),
        "classifier_error_on_real_test_images_per_set": {k: float(np.mean(v))
                                                         for k, v in real_errors.items()},
        "classifier_cached": cached,
        "classifier_training_images": {s.label_set.name: len(s.judge_images) for s in sets},
        "test_images": {s.label_set.name: len(s.images) for s in sets},
        "translations": len(every),
        "model_step": config.step,
    }


def _errors_on_real(space: LabelSpace, classifier: DomainClassifier, s: EvalSet, source: np.ndarray,
                    batch_size: int) -> np.ndarray:
    """The judge on untouched test images: one entry per image and label it decides."""
    logits = torch.cat([classifier(s.images[i : i + batch_size])
                        for i in range(0, len(s.images), batch_size)])
    if s.label_set.kind != BINARY:
        return _errors(space, logits, s.label_set, source, None)
    return np.concatenate([_errors(space, logits, s.label_set, source, column)
                           for column in range(len(s.label_set.labels))])


def _part(s: EvalSet, labels: torch.Tensor) -> np.ndarray:
    if s.label_set.kind == BINARY:
        return labels.numpy().astype(np.float32)
    return torch.nn.functional.one_hot(labels, len(s.label_set.labels)).float().numpy()


def _full_source(space: LabelSpace, s: EvalSet, labels: torch.Tensor) -> np.ndarray:
    return space.full_vector(s.label_set, _part(s, labels))
