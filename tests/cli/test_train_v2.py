"""`starbatch make-faces --domains` and `train --family v2` as a user runs them."""

import hashlib
import json

from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.models.model_file import read_header
from starbatch.train.settings import TrainSettings, option_parameters, settings_from_options


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def tree(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.jpg"))}


def test_make_faces_domains_writes_train_and_val_folders_per_domain_the_same_every_run(tmp_path):
    for name in ("a", "b"):
        result = run("make-faces", tmp_path / name, "--domains", "male,female", "--n", "10", "--seed", "4")
        assert result.exit_code == 0, result.output
    faces = tree(tmp_path / "a")
    assert faces == tree(tmp_path / "b")
    for domain in ("female", "male"):
        assert len([k for k in faces if k.startswith(f"train/{domain}/")]) == 9
        assert len([k for k in faces if k.startswith(f"val/{domain}/")]) == 1
    assert len(set(faces.values())) == len(faces)  # every face its own
    assert not (tmp_path / "a" / "celeba").exists()


def test_make_faces_refuses_domains_the_renderer_cannot_draw_in_one_line(tmp_path):
    result = run("make-faces", tmp_path / "x", "--domains", "female,blond")
    assert result.exit_code == 2 and "gender: female,male" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_v2_options_come_from_the_settings_and_take_the_official_v2_defaults(tmp_path):
    options = {p.name: p for p in option_parameters()}
    for name in ("data_dir", "dim_in", "max_conv_dim", "hidden_dim", "lambda_reg", "lambda_sty", "lambda_ds",
                 "ds_iter", "lambda_cyc", "f_lr", "w_hpf", "fan_from", "wing", "framing"):
        assert options[name].default == getattr(TrainSettings(out="x"), name), name
    v2 = settings_from_options({"out": tmp_path, "architecture": "v2", "data_dir": tmp_path})
    assert v2.architecture == "stargan-v2" and v2.data_dir == str(tmp_path)
    assert (v2.beta1, v2.beta2, v2.weight_decay, v2.decay_iters) == (0.0, 0.99, 1e-4, 0)
    v1 = settings_from_options({"out": tmp_path})
    assert (v1.architecture, v1.beta1, v1.beta2, v1.decay_iters) == ("stargan-v1", 0.5, 0.999, 100000)


def test_train_v2_from_the_command_line_with_small_networks(tmp_path):
    assert run("make-faces", tmp_path / "faces", "--domains", "female,male", "--n", "6").exit_code == 0
    args = ["train", "--family", "v2", "--data", tmp_path / "faces", "--image-size", "16", "--batch-size", "2",
            "--dim-in", "4", "--max-conv-dim", "8", "--hidden-dim", "8", "--style-dim", "4", "--latent-dim", "4",
            "--iters", "1", "--sample-every", "0", "--out", tmp_path / "run", "--device", "cpu"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["step"] == 1
    metadata, _ = read_header(tmp_path / "run" / "model.safetensors")
    config = json.loads(metadata["starbatch"])
    assert (config["dim_in"], config["max_conv_dim"], config["hidden_dim"]) == (4, 8, 8)


def one_error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_train_v2_refuses_fan_masks_without_a_fan_and_a_missing_data_folder_in_one_line(tmp_path):
    result = run("train", "--family", "v2", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "needs --data DIR" in result.output
    line = one_error_line(run("train", "--family", "v2", "--data", tmp_path, "--w-hpf", "1", "--out", tmp_path / "r"))
    assert "--w-hpf 1" in line and "--fan-from MODEL.safetensors" in line and "--wing wing.ckpt" in line
    fan = tmp_path / "fan.safetensors"
    fan.write_bytes(b"")
    line = one_error_line(run("train", "--family", "v2", "--data", tmp_path, "--fan-from", fan,
                              "--out", tmp_path / "r"))
    assert "--fan-from: the FAN is used with --w-hpf above 0 only" in line
    line = one_error_line(run("train", "--family", "v2", "--data", tmp_path, "--w-hpf", "1", "--fan-from", fan,
                              "--wing", fan, "--out", tmp_path / "r"))
    assert "give one" in line
    assert not (tmp_path / "r").exists()
    result = run("train", "--family", "v3", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "choose v1" in result.output
