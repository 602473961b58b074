import json

from typer.testing import CliRunner

from starbatch.cli import app


def test_make_faces_then_train_from_the_command_line(tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["make-faces", str(tmp_path / "faces"), "--n", "20", "--seed", "3",
                               "--rafd-identities", "2"])
    assert made.exit_code == 0, made.output
    args = ["train", "--dataset", "rafd", "--rafd-dir", str(tmp_path / "faces" / "rafd"),
            "--image-size", "32", "--batch-size", "4", "--iters", "2", "--g-conv-dim", "8",
            "--d-conv-dim", "8", "--g-repeat-num", "1", "--d-repeat-num", "2",
            "--sample-every", "2", "--out", str(tmp_path / "run"), "--device", "cpu"]
    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["step"] == 2
    assert (tmp_path / "run" / "samples" / "00000002-images.png").is_file()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "pass --resume" in again.output


def test_train_names_the_missing_folder(tmp_path):
    result = CliRunner().invoke(app, ["train", "--dataset", "both", "--celeba-dir", str(tmp_path),
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "needs --rafd-dir" in result.output
