"""Which files `edit` takes and where each result goes: the output tree mirrors the input tree."""

from PIL import Image

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
    assert plan.skipped == [] and plan.problems == []


def test_crop_only_outputs_are_png_and_finished_outputs_are_skipped(tmp_path):
    put(tmp_path / "in" / "a.jpg")
    put(tmp_path / "out" / "a.png")
    plan = plan_jobs([tmp_path / "in"], tmp_path / "out", overwrite=False, crop_only=True)
    assert plan.jobs == [] and [j.output.name for j in plan.skipped] == ["a.png"]
    again = plan_jobs([tmp_path / "in"], tmp_path / "out", overwrite=True, crop_only=True)
    assert [j.output.name for j in again.jobs] == ["a.png"]


def test_a_missing_input_and_a_non_image_are_problems_named_by_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    plan = plan_jobs([tmp_path / "missing", tmp_path / "notes.txt"], tmp_path / "out", False, False)
    assert [(p.name, cause.split(";")[0]) for p, cause in plan.problems] == [
        ("missing", "no such file or folder"), ("notes.txt", "unsupported file type .txt")]
