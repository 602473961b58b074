"""The paper's quantitative protocol (StarGAN section 5.5): an independent classifier judges translations.

As in the paper, a classifier (here a small CNN, one per data set) is trained on the real images
of each data set's training split; every image of the test split is then translated to every
target domain of its data set, and the classifier checks that the target label is what it sees.
Run it on a freshly made face set the model never saw. Reported: classification error per domain
and overall (a fraction), the classifier's own error on the real test images per label (how far
to trust each row), and the reconstruction L1 |x - G(G(x, c_trg), c_org)|.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from starbatch.errors import StarbatchError
from starbatch.models.family import LoadedModel
from starbatch.models.stargan_v1.labels import BINARY, LabelSet, LabelSpace
from starbatch.train.data import ImageSet, splits
from starbatch.train.stargan_v1.losses import classification
from starbatch.train.stargan_v1.samples import domain_targets

CLASSIFIER_VERSION = 4
JUDGE_IMAGES = 10000  # per data set: enough to learn the labels, bounded memory on full CelebA
JUDGE_PEAK_LR = 2e-3


class DomainClassifier(nn.Module):
    """Conv-BatchNorm-ReLU stages down to 1/16 of the image, global average pool, a logit per label.

    One judge per data set, so BatchNorm's running statistics come from one set only (a blend of
    both cost hair colour a third of its accuracy). On 64 px RaFD-style faces BatchNorm learned
    the few-pixel expression cues (10% test error in 25 epochs) where GroupNorm stayed at chance.
    """

    def __init__(self, classes: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for out in (width, width * 2, width * 4, width * 4):
            layers += [nn.Conv2d(channels, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True), nn.Conv2d(out, out, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
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
              judge_images: int = JUDGE_IMAGES) -> list[EvalSet]:
    sets = []
    for label_set in space.sets:
        train, test = splits(label_set, celeba_dir, rafd_dir)
        if len(test) == 0 or len(train) == 0:
            raise StarbatchError(f"{label_set.name}: the {'test' if len(test) == 0 else 'training'} "
                                 "split is empty; the judge trains on one and checks the other")
        images, labels = _load_all(test, size)
        sets.append(EvalSet(label_set, images, labels, *_load_all(train, size, judge_images)))
    return sets


def train_classifier(s: EvalSet, epochs: int, seed: int = 0, batch_size: int = 32) -> DomainClassifier:
    """Fit one set's judge on its real training images (with flips), one-cycle learning rate."""
    torch.manual_seed(seed)
    model = DomainClassifier(len(s.label_set.labels))
    optimizer = torch.optim.Adam(model.parameters(), JUDGE_PEAK_LR / 2)
    batches = -(-len(s.judge_images) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, JUDGE_PEAK_LR,
                                                   total_steps=max(1, epochs * batches))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(s.judge_images), generator=generator)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            if len(chosen) < 2:  # BatchNorm needs two images; drop a last single one
                continue
            x = s.judge_images[chosen]
            flip = torch.rand(len(chosen), generator=generator) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
            loss = classification(model(x), s.judge_labels[chosen], s.label_set.kind)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def classifier_cache_key(s: EvalSet, size: int, epochs: int) -> str:
    digest = hashlib.sha256()
    identity = [CLASSIFIER_VERSION, s.label_set.name, s.label_set.kind, list(s.label_set.labels),
                size, epochs]
    digest.update(json.dumps(identity).encode())
    digest.update(s.judge_images.numpy().tobytes())
    digest.update(s.judge_labels.numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_classifier(s: EvalSet, size: int, epochs: int,
                      cache_dir: Path | None) -> tuple[DomainClassifier, bool]:
    """The set's judge for these exact training images: from cache_dir if trained before."""
    path = None
    if cache_dir is not None:
        key = classifier_cache_key(s, size, epochs)
        path = Path(cache_dir) / f"classifier-{s.label_set.name}-{key}.safetensors"
        if path.is_file():
            model = DomainClassifier(len(s.label_set.labels))
            model.load_state_dict(load_file(str(path)))
            return model.eval(), True
    model = train_classifier(s, epochs)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, False


def _errors(logits: torch.Tensor, label_set: LabelSet, wanted: np.ndarray,
            column: int | None) -> np.ndarray:
    """Per image: 1 where the judge disagrees with the wanted labels ((N, k) of this set)."""
    if label_set.kind == BINARY:
        seen = (logits[:, column] > 0).numpy()
        return (seen != (wanted[:, column] > 0.5)).astype(np.float64)
    return (logits.argmax(1).numpy() != wanted.argmax(1)).astype(np.float64)


def _judge(classifier: DomainClassifier, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([classifier(images[i : i + batch_size])
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def evaluate(model: LoadedModel, celeba_dir: Path | None, rafd_dir: Path | None,
             classifier_epochs: int = 25, cache_dir: Path | None = None,
             batch_size: int = 16, judge_images: int = JUDGE_IMAGES) -> dict:
    config = model.config
    space, size = config.labels, config.image_size
    sets = eval_sets(space, size, celeba_dir, rafd_dir, judge_images)
    G = model.generator.cpu().eval()

    per_domain: dict[str, list[float]] = {}
    real_per_domain: dict[str, float] = {}
    rec_sum, rec_count, real_errors, all_cached = 0.0, 0, {}, True
    for s in sets:
        with torch.enable_grad():
            classifier, cached = cached_classifier(s, size, classifier_epochs, cache_dir)
        all_cached &= cached
        source_labels = _part(s, s.labels)
        source_vectors = space.full_vector(s.label_set, source_labels)
        real = _real_errors(classifier, s, source_labels, batch_size)
        real_errors[s.label_set.name] = np.concatenate(list(real.values()))
        real_per_domain.update({f"{s.label_set.name}/{k}": float(np.mean(v)) if len(v) else None
                                for k, v in real.items()})
        targets = domain_targets(space, s.label_set, source_labels)
        offset = space.offset(s.label_set)
        binary = s.label_set.kind == BINARY
        for column, name in enumerate(s.label_set.labels):
            target = targets[offset + column]
            wanted = target[:, offset : offset + len(s.label_set.labels)]
            errors = []
            for start in range(0, len(s.images), batch_size):
                x = s.images[start : start + batch_size]
                c_trg = torch.from_numpy(target[start : start + batch_size])
                c_org = torch.from_numpy(source_vectors[start : start + batch_size])
                fake = G(x, c_trg).float()
                errors.extend(_errors(classifier(fake), s.label_set,
                                      wanted[start : start + batch_size], column if binary else None))
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
        "classifier_error_on_real_test_images_per_domain": real_per_domain,
        "classifier_cached": all_cached,
        "classifier_training_images": {s.label_set.name: len(s.judge_images) for s in sets},
        "classifier_epochs": classifier_epochs,
        "test_images": {s.label_set.name: len(s.images) for s in sets},
        "translations": len(every),
        "model_step": config.step,
    }


def _real_errors(classifier: DomainClassifier, s: EvalSet, source_labels: np.ndarray,
                 batch_size: int) -> dict[str, np.ndarray]:
    """The judge on untouched test images, per label: each attribute it decides, or for a
    one-hot set the images whose true class is that label."""
    logits = _judge(classifier, s.images, batch_size)
    if s.label_set.kind == BINARY:
        return {name: _errors(logits, s.label_set, source_labels, column)
                for column, name in enumerate(s.label_set.labels)}
    errors = _errors(logits, s.label_set, source_labels, None)
    truth = source_labels.argmax(1)
    return {name: errors[truth == k] for k, name in enumerate(s.label_set.labels)}


def _part(s: EvalSet, labels: torch.Tensor) -> np.ndarray:
    if s.label_set.kind == BINARY:
        return labels.numpy().astype(np.float32)
    return torch.nn.functional.one_hot(labels, len(s.label_set.labels)).float().numpy()
