"""Which files `edit` takes and where each result goes: the output tree mirrors the input tree."""

import pytest
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.media.jobs import plan_jobs


def put(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)
    return path


def test_outputs_mirror_the_input_tree_and_the_output_folder_is_not_read(tmp_path):
    photos = tmp_path / "photos"
    put(photos / "a.jpg")
    put(photos / "trip" / "b.png")
    put(photos / "edited" / "old.jpg")  # an earlier run's output, inside the input folder
    (photos / "notes.txt").write_text("not an image")
    plan = plan_jobs([photos], photos / "edited", overwrite=False, crop_only=False)
    assert {(j.input_path.relative_to(photos), j.output.relative_to(photos)) for j in plan.jobs} == {
        (put(photos / "a.jpg").relative_to(photos), (photos / "edited" / "a.jpg").relative_to(photos)),
        ((photos / "trip" / "b.png").relative_to(photos), (photos / "edited" / "trip" / "b.png").relative_to(photos)),
    }
    assert plan.skipped == []
    assert plan.ignored == [photos / "notes.txt"]


def test_files_that_are_not_photos_are_listed_as_ignored_but_not_hidden_ones_or_the_outputs(tmp_path):
    photos = tmp_path / "photos"
    put(photos / "a.jpg")
    for name in ("clip.mov", "trip/anim.gif", "trip/raw.CR2", ".DS_Store", ".git/objects/ab", "out/log.txt"):
        (photos / name).parent.mkdir(parents=True, exist_ok=True)
        (photos / name).write_bytes(b"x")
    plan = plan_jobs([photos], photos / "out", overwrite=False, crop_only=False)
    assert [j.input_path for j in plan.jobs] == [photos / "a.jpg"]
    assert plan.ignored == [photos / "clip.mov", photos / "trip" / "anim.gif", photos / "trip" / "raw.CR2"]


def test_crop_only_outputs_are_png_and_finished_outputs_are_skipped(tmp_path):
    put(tmp_path / "in" / "a.jpg")
    put(tmp_path / "out" / "a.png")
    plan = plan_jobs([tmp_path / "in"], tmp_path / "out", overwrite=False, crop_only=True)
    assert plan.jobs == [] and [j.output.name for j in plan.skipped] == ["a.png"]
    again = plan_jobs([tmp_path / "in"], tmp_path / "out", overwrite=True, crop_only=True)
    assert [j.output.name for j in again.jobs] == ["a.png"]


@pytest.mark.parametrize("given, cause", [("missing", "missing: no such file or folder"),
                                          ("notes.txt", "notes.txt: unsupported file type .txt"),
                                          ("empty", "empty: no images")])
def test_what_cannot_be_planned_is_a_usage_error_naming_the_path(tmp_path, given, cause):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    put(tmp_path / "photos" / "a.jpg")
    with pytest.raises(StarbatchError, match=cause):
        plan_jobs([tmp_path / "photos", tmp_path / given], tmp_path / "out", False, False)


def outputs(plan, root):
    return {str(j.input_path.relative_to(root)): str(j.output.relative_to(root)) for j in plan.jobs}


@pytest.mark.parametrize("order", [["a/x", "a"], ["a", "a/x"], ["a", "a"], ["a/x/p.png", "a", "a/x"]])
def test_overlapping_inputs_edit_each_photo_once_mirrored_from_the_outer_folder(tmp_path, order):
    put(tmp_path / "a" / "p.png")
    put(tmp_path / "a" / "x" / "p.png")
    plan = plan_jobs([tmp_path / name for name in order], tmp_path / "out", False, False)
    assert outputs(plan, tmp_path) == {"a/p.png": "out/p.png", "a/x/p.png": "out/x/p.png"}


def test_two_photos_for_one_output_are_refused_before_any_work(tmp_path):
    put(tmp_path / "a" / "p.png")
    put(tmp_path / "b" / "p.png")
    with pytest.raises(StarbatchError, match="would both be written to"):
        plan_jobs([tmp_path / "a", tmp_path / "b"], tmp_path / "out", False, False)


def test_one_photo_and_a_file_name_as_out_writes_that_file_in_its_format(tmp_path):
    put(tmp_path / "p.jpg")
    plan = plan_jobs([tmp_path / "p.jpg"], tmp_path / "edited.png", False, False)
    assert [(j.output.name, j.image_format) for j in plan.jobs] == [("edited.png", "PNG")]
    (tmp_path / "folder.png").mkdir()  # an existing folder stays a folder, whatever its name
    plan = plan_jobs([tmp_path / "p.jpg"], tmp_path / "folder.png", False, False)
    assert [(str(j.output.relative_to(tmp_path)), j.image_format) for j in plan.jobs] == [("folder.png/p.jpg", None)]


def test_a_file_name_as_out_for_a_folder_is_refused(tmp_path):
    put(tmp_path / "photos" / "p.jpg")
    with pytest.raises(StarbatchError, match="names one file"):
        plan_jobs([tmp_path / "photos"], tmp_path / "edited.png", False, False)
