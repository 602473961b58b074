"""`starbatch edit` and `video` on a StarGAN v2 model as a user runs them: styles from seeds or a
reference face, one output per style, and the other family's options refused in one line."""

import hashlib

import pytest
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.synthetic.pictures import face_like

CENTRE = ("--faces", "center")  # face-free stand-ins: the central square, as tests/cli/test_edit.py does


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    Image.fromarray(face_like(90, 70, 1)).save(folder / "a.jpg", quality=92)
    Image.fromarray(face_like(64, 64, 2)).save(folder / "trip" / "b.png")
    return folder


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("starbatch: error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_two_seeds_write_two_different_files_per_photo_the_same_bytes_every_run(tmp_path, photos, v2_model):
    for out in ("first", "second"):
        result = run("edit", photos, "-m", v2_model, "--domain", "male", "--seed", "1,2", "-o", tmp_path / out,
                     *CENTRE)
        assert result.exit_code == 0, result.output
    names = sorted(str(p.relative_to(tmp_path / "first")) for p in (tmp_path / "first").rglob("*")
                   if p.is_file() and not p.name.startswith("."))  # not the run record
    assert names == ["a_male_s1.jpg", "a_male_s2.jpg", "trip/b_male_s1.png", "trip/b_male_s2.png"]
    for name in names:
        assert digest(tmp_path / "first" / name) == digest(tmp_path / "second" / name), name
    assert digest(tmp_path / "first" / "a_male_s1.jpg") != digest(tmp_path / "first" / "a_male_s2.jpg")
    assert Image.open(tmp_path / "first" / "a_male_s1.jpg").size == (90, 70)


def test_a_photo_with_three_outputs_is_read_once_and_its_failure_said_once(tmp_path, photos, v2_model, monkeypatch):
    from starbatch.engines import photos as engine

    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    reads = []
    read_photo = engine.read_photo
    monkeypatch.setattr(engine, "read_photo", lambda path, *rest: reads.append(path.name) or read_photo(path, *rest))
    result = run("edit", photos, "-m", v2_model, "--domain", "male", "--seed", "1,2,3", "-o", tmp_path / "out",
                 *CENTRE)
    assert result.exit_code == 1, result.output
    assert sorted(reads) == ["a.jpg", "b.png", "broken.jpg"]
    assert [line for line in result.output.splitlines() if "broken.jpg" in line] == [
        f"failed  {photos / 'broken.jpg'}: not an image Pillow can read (damaged or wrong format)"]
    assert "2 faces edited in 2 photos (6 outputs), 0 without a face; skipped 0, failed 1 in" in result.output
    assert len(list((tmp_path / "out").rglob("*_male_s*"))) == 6


def test_psi_1_is_the_untruncated_style_and_a_smaller_psi_changes_it(tmp_path, photos, v2_model):
    crops = {}
    for name, extra in [("plain", ()), ("psi1", ("--psi", "1")), ("psi05", ("--psi", "0.5"))]:
        result = run("edit", photos / "trip" / "b.png", "-m", v2_model, "--domain", "female", "--seed", "7",
                     *extra, "--crop-only", "-o", tmp_path / name, *CENTRE)
        assert result.exit_code == 0, result.output
        crops[name] = digest(tmp_path / name / "b_female_s7.png")
    assert crops["psi1"] == crops["plain"] and crops["psi05"] != crops["plain"]


def test_a_reference_photo_gives_the_style_and_names_the_output(tmp_path, photos, v2_model):
    reference = tmp_path / "ref.png"
    Image.fromarray(face_like(80, 80, 9)).save(reference)
    result = run("edit", photos / "trip" / "b.png", "-m", v2_model, "--domain", "Male", "--ref", reference,
                 "--crop-only", "-o", tmp_path / "out", *CENTRE)
    assert result.exit_code == 0, result.output
    assert "Male means male" in result.output
    assert (tmp_path / "out" / "b_male_ref-ref.png").is_file()
    run("edit", photos / "trip" / "b.png", "-m", v2_model, "--domain", "male", "--seed", "0", "--crop-only",
        "-o", tmp_path / "seed", *CENTRE)
    assert digest(tmp_path / "out" / "b_male_ref-ref.png") != digest(tmp_path / "seed" / "b_male_s0.png")


@pytest.mark.parametrize("args, fragments", [
    (("--to", "Male"), ("v2.safetensors is a stargan-v2 model", "takes --domain, --seed, --psi, --ref", "not --to")),
    (("--domain", "male", "--seed", "1", "--from", "Young"), ("stargan-v2 model", "not --from")),
    (("--domain", "mael", "--seed", "1"), ("unknown domain 'mael'", "Did you mean 'male'?", "female, male")),
    (("--seed", "1",), ("give the target --domain (female, male)",)),
    (("--domain", "male"), ("--seed N[,N...] or with --ref PHOTO (neither given)",)),
    (("--domain", "male", "--seed", "1", "--ref", "x.jpg"), ("(both given)",)),
    (("--domain", "male", "--seed", "1,x"), ("seeds are whole numbers",)),
    (("--domain", "male", "--seed", "3,3"), ("seed 3 is given twice",)),
    (("--domain", "male", "--seed", "1", "--psi", "1.5"), ("--psi 1.5", "from 0")),
    (("--domain", "male", "--ref", "ref.jpg", "--psi", "0.5"), ("--psi truncates the styles of --seed",)),
    (("--domain", "male", "--ref", "missing.jpg"), ("--ref missing.jpg: no such file",)),
])  # fmt: skip
def test_mixed_up_options_on_a_v2_model_are_one_line(tmp_path, photos, v2_model, args, fragments):
    one_line_error(run("edit", photos, "-m", v2_model, *args, "-o", tmp_path / "out"), *fragments)
    assert not (tmp_path / "out").exists()


def test_v2_options_on_a_v1_model_are_one_line_naming_what_it_takes(tmp_path, photos, model):
    one_line_error(run("edit", photos, "-m", model, "--domain", "male", "--seed", "1", "-o", tmp_path / "out"),
                   "joint.safetensors is a stargan-v1 model", "takes --to, --expression, --from",
                   "not --domain, --seed")


def test_a_reference_without_a_face_is_one_line(tmp_path, photos, v2_model):
    reference = tmp_path / "flat.png"
    Image.new("RGB", (80, 80), (120, 130, 140)).save(reference)
    one_line_error(run("edit", photos, "-m", v2_model, "--domain", "male", "--ref", reference, "-o", tmp_path / "o"),
                   f"--ref {reference}: no face found")


def test_video_keeps_one_style_and_every_frame(tmp_path, v2_model, make_clip, frame_times):
    clip = make_clip(tmp_path / "clip.mp4", frames=6)
    output = tmp_path / "styled.mp4"
    result = run("video", clip, "-m", v2_model, "--domain", "female", "--seed", "5", *CENTRE, "-o", output)
    assert result.exit_code == 0, result.output
    assert frame_times(output) == frame_times(clip)
    one_line_error(run("video", clip, "-m", v2_model, "--domain", "female", "--seed", "5,6", "-o", tmp_path / "x.mp4"),
                   "give one style, not 2")
