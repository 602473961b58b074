"""Sample grids' targets follow the same hair-colour rule as edits (labels.set_label)."""

import numpy as np

from starbatch.models.stargan_v1.labels import EditPass, label_space_for, target_part
from starbatch.train.stargan_v1.samples import domain_targets


def test_the_black_hair_column_is_what_an_edit_to_black_hair_gives():
    space = label_space_for("celeba")
    celeba = space.sets[0]
    source_labels = np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 1]], np.float32)  # blond man; black-haired young
    targets = domain_targets(space, celeba, source_labels)
    edit = target_part(EditPass(celeba, (("Black_Hair", 1.0),)), source_labels, 2)
    np.testing.assert_array_equal(targets[0], edit)
    assert (targets[0][:, :3] == [1, 0, 0]).all()  # exactly one hair colour
    np.testing.assert_array_equal(targets[3][:, 3], 1 - source_labels[:, 3])  # Male flips
