"""Label parsing and the label vectors G gets."""

import numpy as np
import pytest

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v1.labels import (
    CELEBA_ATTRIBUTES,
    label_space_for,
    parse_assignments,
    plan_passes,
    source_labels_from_text,
    target_part,
)


def test_to_sets_and_equals_zero_clears():
    assert parse_assignments("Black_Hair, Young,Male=0") == [("Black_Hair", 1.0), ("Young", 1.0), ("Male", 0.0)]


def test_forty_celeba_attributes_are_known():
    assert len(CELEBA_ATTRIBUTES) == 40 and len(set(CELEBA_ATTRIBUTES)) == 40
    space = label_space_for("celeba", ["Eyeglasses", "Smiling"])
    assert space.resolve("smiling")[1] == "Smiling"


def test_edit_changes_only_named_labels_and_hair_stays_exclusive():
    space = label_space_for("celeba")  # Black, Blond, Brown, Male, Young
    (edit,) = plan_passes(space, "Black_Hair,Male=0", None)
    source = source_labels_from_text(space, "Blond_Hair,Male")["celeba"]
    np.testing.assert_array_equal(target_part(edit, source, 2), [[1, 0, 0, 0, 0]] * 2)
    (keep_age,) = plan_passes(space, "Brown_Hair", None)
    young_blond = np.array([0, 1, 0, 0, 1], dtype=np.float32)
    np.testing.assert_array_equal(target_part(keep_age, young_blond, 1), [[0, 0, 1, 0, 1]])


def test_unknown_name_lists_valid_names_and_closest_match():
    with pytest.raises(StarbatchError) as error:
        plan_passes(label_space_for("celeba"), "Blak_Hair", None)
    message = str(error.value)
    assert "'Blak_Hair'" in message and "Did you mean 'Black_Hair'" in message
    assert "Valid: Black_Hair, Blond_Hair, Brown_Hair, Male, Young" in message
    assert "\n" not in message


def test_expression_is_one_hot_and_joint_label_has_mask():
    space = label_space_for("both")
    (edit,) = plan_passes(space, None, "happy")
    vector = space.full_vector(edit.label_set, target_part(edit, None, 1))
    expected = np.zeros(15, dtype=np.float32)
    expected[5 + 4] = 1  # happy is the 5th expression in sorted order
    expected[14] = 1  # mask: RaFD part known
    np.testing.assert_array_equal(vector[0], expected)


def test_joint_model_splits_celeba_and_rafd_into_passes():
    space = label_space_for("both")
    passes = plan_passes(space, "Young", "happy")
    assert [p.label_set.name for p in passes] == ["celeba", "rafd"]
    celeba_vector = space.full_vector(passes[0].label_set, target_part(passes[0], np.zeros(5), 1))
    assert celeba_vector[0, 13] == 1 and celeba_vector[0, 14] == 0 and celeba_vector[0, 4] == 1


def test_two_expressions_at_once_are_refused():
    with pytest.raises(StarbatchError, match="exactly one"):
        plan_passes(label_space_for("rafd"), None, "happy,sad")


def test_nothing_to_edit_is_an_error():
    with pytest.raises(StarbatchError, match="nothing to edit"):
        plan_passes(label_space_for("celeba"), None, None)


def test_bad_value_is_an_error():
    with pytest.raises(StarbatchError, match="NAME=0"):
        parse_assignments("Male=yes")
