"""Sample grids as the paper's figures: each row an input, then one column per target domain."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from starbatch.labels import BINARY, HAIR_COLOURS, LabelSet, LabelSpace


def domain_targets(space: LabelSpace, label_set: LabelSet, source: np.ndarray) -> list[np.ndarray]:
    """Full label vectors for every single-domain change of `source` labels of `label_set`.

    Official create_labels: a binary attribute is flipped, except that a hair colour is set and
    the other colours cleared; for a set the images do not come from, its part starts at zero.
    Every one-hot class is a column of its own.
    """
    targets = []
    count = source.shape[0]
    for target_set in space.sets:
        names = target_set.labels
        for index, name in enumerate(names):
            if target_set.kind == BINARY:
                part = source.copy() if target_set == label_set else np.zeros((count, len(names)),
                                                                              np.float32)
                if name in HAIR_COLOURS:
                    for other in HAIR_COLOURS & set(names):
                        part[:, names.index(other)] = 0.0
                    part[:, index] = 1.0
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
    for label_set, images, source in inputs:
        images = images.to(device)
        columns = [images]
        for target in domain_targets(space, label_set, source):
            columns.append(generator(images, torch.from_numpy(target).to(device)).float())
        rows.append(torch.cat(columns, dim=3))
    grid = torch.cat(list(torch.cat(rows, dim=0)), dim=1)  # images stacked vertically
    scaled = ((grid + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    return scaled.permute(1, 2, 0).cpu().numpy()


def save_grid(path: Path, grid: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
