"""Sample grids as the paper's figures: each row an input, then one column per target domain."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from starbatch.inference.compositing import to_uint8
from starbatch.models.stargan_v1.labels import BINARY, HAIR_COLOUR_LABELS, LabelSet, LabelSpace, set_label


def domain_targets(space: LabelSpace, label_set: LabelSet, source_labels: np.ndarray) -> list[np.ndarray]:
    """Full label vectors for every single-domain change of the images' `source_labels` of `label_set`.

    Official create_labels: a binary attribute is flipped, except that a hair colour is set and
    the other colours cleared; for a set the images do not come from, its part starts at zero.
    Every one-hot class is a column of its own.
    """
    targets = []
    count = source_labels.shape[0]
    for target_set in space.sets:
        names = target_set.labels
        for index, name in enumerate(names):
            if target_set.kind == BINARY:
                part = source_labels.copy() if target_set == label_set else np.zeros((count, len(names)),
                                                                              np.float32)
                if name in HAIR_COLOUR_LABELS:
                    set_label(part, names, name, 1.0)
                else:
                    part[:, index] = 1.0 - part[:, index]
            else:
                part = np.zeros((count, len(names)), np.float32)
                part[:, index] = 1.0
            targets.append(space.full_vector(target_set, part))
    return targets


@torch.no_grad()
def sample_grid(generator: torch.nn.Module, space: LabelSpace,
                inputs: list[tuple[LabelSet, torch.Tensor, np.ndarray]]) -> np.ndarray:
    """uint8 (rows*S, (1 + domains)*S, 3): per input set, its images and their translations."""
    rows = []
    device = next(generator.parameters()).device
    for label_set, images, source_labels in inputs:
        images = images.to(device)
        columns = [images]
        for target in domain_targets(space, label_set, source_labels):
            columns.append(generator(images, torch.from_numpy(target).to(device)).float())
        rows.append(torch.cat(columns, dim=3))
    grid = torch.cat(list(torch.cat(rows, dim=0)), dim=1)  # images stacked vertically
    return to_uint8(grid[None])[0]


def save_grid(path: Path, grid: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
