import json

import torch
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.models.model_file import save_model
from starbatch.models.stargan_v1.labels import CELEBA_DEFAULT, RAFD_EXPRESSIONS, label_space_for
from starbatch.synthetic.faces import make_faces
from starbatch.train.data import celeba_splits, rafd_split
from starbatch.train.evaluate import eval_sets, train_classifier
from starbatch.train.settings import TrainSettings
from starbatch.train.stargan_v1.solver import model_config


def tiny_joint_model(faces, path, tiny):
    settings = TrainSettings(dataset="both", out="unused", celeba_dir=str(faces / "celeba"),
                             rafd_dir=str(faces / "rafd"), **tiny)
    config = model_config(settings)
    torch.manual_seed(0)
    save_model(path, config, {"generator": config.new_generator().state_dict(),
                              "discriminator": config.new_discriminator().state_dict()})
    return path


def test_eval_reports_error_per_domain_overall_and_reconstruction(tmp_path, faces_tree, tiny):
    faces = faces_tree
    model = tiny_joint_model(faces, tmp_path / "tiny.safetensors", tiny)
    args = ["eval", str(model), "--celeba-dir", str(faces / "celeba"), "--rafd-dir",
            str(faces / "rafd"), "--json", str(tmp_path / "eval.json"), "--classifier-epochs", "2",
            "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval.json").read_text())
    assert 0.0 <= report["overall_error"] <= 1.0
    assert len(report["per_domain_error"]) == 5 + 8
    assert f"rafd/{RAFD_EXPRESSIONS[0]}" in report["per_domain_error"]
    assert report["translations"] == 2 * 5 + 8 * 8  # CelebA 2 test faces, RaFD 8
    assert report["reconstruction_l1"] > 0 and not report["classifier_cached"]
    # the paper's protocol: the judge learns from the training split and is checked on the test
    # split, whose images it never saw
    train, test = celeba_splits(faces / "celeba", CELEBA_DEFAULT)
    rafd_train = rafd_split(faces / "rafd", "train")
    assert report["classifier_training_images"] == {"celeba": len(train), "rafd": len(rafd_train)}
    assert report["test_images"] == {"celeba": len(test), "rafd": 8}
    assert 0.0 <= report["classifier_error_on_real_test_images"] <= 1.0
    assert report["classifier_error_on_real_test_images_per_domain"].keys() == \
        report["per_domain_error"].keys()
    # two epochs on a few faces: the judge is weak, and eval says so rather than print bare numbers
    assert "warning: the judge itself errs on real test images" in result.stderr
    again = CliRunner().invoke(app, args)
    assert json.loads((tmp_path / "eval.json").read_text())["classifier_cached"], again.output


def test_eval_needs_the_folders_of_the_models_data_sets(tmp_path, faces_tree, tiny):
    faces = faces_tree
    model = tiny_joint_model(faces, tmp_path / "tiny.safetensors", tiny)
    result = CliRunner().invoke(app, ["eval", str(model), "--celeba-dir", str(faces / "celeba")])
    assert result.exit_code == 2 and "--rafd-dir" in result.output


def test_judge_learns_hair_colour_from_real_training_images(tmp_path):
    """The judge is only worth its verdicts if it reads the labels: on faces it never saw, it
    names the hair colour almost always (a judge at chance would miss about a third)."""
    hair = ["Black_Hair", "Blond_Hair", "Brown_Hair"]
    make_faces(tmp_path, 300, seed=21, rafd_identities=2)
    (celeba_set,) = eval_sets(label_space_for("celeba", hair), 32, tmp_path / "celeba", None)
    judge = train_classifier(celeba_set, epochs=10)
    with torch.no_grad():
        seen = judge(celeba_set.images) > 0
    errors = (seen != celeba_set.labels.bool()).float().mean(0)
    assert len(celeba_set.images) == 30 and len(celeba_set.judge_images) == 270
    assert errors.max() <= 0.1, errors
