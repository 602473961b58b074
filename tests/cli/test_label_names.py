"""How label names given to --to, --expression and --from are read: ignoring case, said back in
the model's spelling, and sent to the option that sets them."""

import pytest
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.errors import StarbatchError
from starbatch.models.stargan_v1.labels import label_space_for, plan_passes, respelled
from starbatch.synthetic.pictures import face_like


@pytest.fixture(scope="module")
def models(tmp_path_factory, random_model):
    folder = tmp_path_factory.mktemp("models")
    return {dataset: random_model(folder / f"{dataset}.safetensors", dataset) for dataset in ("both", "celeba", "rafd")}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "a.png"
    Image.fromarray(face_like(64, 64)).save(path)
    return path


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


def plan_error(dataset: str, to: str | None, expression: str | None) -> str:
    with pytest.raises(StarbatchError) as error:
        plan_passes(label_space_for(dataset), to, expression)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_names_match_ignoring_case_and_edit_with_the_models_spelling():
    space = label_space_for("both")
    passes = plan_passes(space, "black_hair,YOUNG=0", "Happy")
    assert [p.changes for p in passes] == [(("Black_Hair", 1.0), ("Young", 0.0)), (("happy", 1.0),)]
    assert respelled(space, "black_hair,YOUNG=0,Male", "Happy", "blond_hair") == [
        ("black_hair", "Black_Hair"), ("YOUNG", "Young"), ("blond_hair", "Blond_Hair"), ("Happy", "happy")]


def test_edit_says_the_canonical_name_of_a_name_given_in_another_case(tmp_path, models, photo):
    result = run("edit", photo, "--to", "black_hair", "-m", models["both"], "--faces", "center", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "starbatch: black_hair means Black_Hair" in result.output
    exact = run("edit", photo, "--to", "Black_Hair", "-m", models["both"], "--faces", "center", "-o", tmp_path / "b")
    assert exact.exit_code == 0 and "means" not in exact.output


def test_video_says_the_canonical_name_too(tmp_path, models, make_clip):
    clip = make_clip(tmp_path / "in.mp4", frames=4)
    result = run("video", clip, "--expression", "HAPPY", "-m", models["both"], "--faces", "center",
                 "-o", tmp_path / "out.mp4")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "starbatch: HAPPY means happy" in result.output


def test_an_expression_in_to_says_use_expression(tmp_path, models, photo):
    assert plan_error("both", "Young,happy", None) == "--to happy: happy is an expression: use --expression happy"
    line = error_line(run("edit", photo, "--to", "Surprised", "-m", models["both"], "-o", tmp_path))
    assert line == "starbatch: error: --to Surprised: surprised is an expression: use --expression surprised"
    assert not any(tmp_path.iterdir())


def test_expression_on_a_model_without_expressions_says_it_has_none(tmp_path, models, photo):
    expected = ("--expression happy: this model has no expressions; it edits Black_Hair, Blond_Hair, Brown_Hair, "
                "Male, Young with --to")
    assert plan_error("celeba", None, "happy") == expected
    assert error_line(run("edit", photo, "--expression", "happy", "-m", models["celeba"], "-o", tmp_path)) == (
        f"starbatch: error: {expected}")
    video = run("video", tmp_path / "none.mp4", "--expression", "happy", "-m", models["celeba"])
    assert "this model has no expressions" in video.output


def test_an_expression_in_to_on_a_model_without_expressions_says_it_has_none():
    assert plan_error("celeba", "Happy", None) == (
        "--to Happy: happy is an expression, and this model has none; it edits Black_Hair, Blond_Hair, Brown_Hair, "
        "Male, Young with --to")  # fmt: skip


def test_a_yes_no_label_in_expression_says_use_to():
    assert plan_error("both", None, "young") == "--expression young: Young is not an expression: use --to Young"


def test_to_on_a_model_with_only_expressions_lists_them():
    assert plan_error("rafd", "Young", None) == (
        "--to Young: this model has only expressions; it edits angry, contemptuous, disgusted, fearful, happy, "
        "neutral, sad, surprised with --expression")  # fmt: skip


def test_unknown_names_list_only_what_the_option_takes():
    to = plan_error("both", "Blak_Hair", None)
    assert "Did you mean 'Black_Hair'" in to and to.endswith("Valid: Black_Hair, Blond_Hair, Brown_Hair, Male, Young")
    expression = plan_error("both", None, "hapy")
    assert expression.startswith("--expression hapy: unknown expression 'hapy'. Did you mean 'happy'?")
    assert expression.endswith("Valid: angry, contemptuous, disgusted, fearful, happy, neutral, sad, surprised")
