"""`starbatch eval` on a StarGAN v2 model: the paper's tasks, every number reported."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.train.loop import run
from starbatch.train.settings import TrainSettings
from starbatch.train.stargan_v2.evaluate import frechet_distance, mean_pairwise


@pytest.fixture(scope="module")
def two_step_model(tmp_path_factory, domain_faces, tiny_v2):
    out = tmp_path_factory.mktemp("v2-eval")
    run(TrainSettings(out=str(out), data_dir=str(domain_faces), iters=2, checkpoint_every=0, **tiny_v2),
        progress=False)
    return out / "model.safetensors"


def leaves(tree):
    if isinstance(tree, dict):
        for value in tree.values():
            yield from leaves(value)
    else:
        yield tree


def test_eval_reports_accuracy_diversity_frechet_and_reconstruction_for_every_task(tmp_path, two_step_model,
                                                                                    domain_faces):
    args = ["eval", str(two_step_model), "--data", str(domain_faces), "--json", str(tmp_path / "eval.json"),
            "--classifier-epochs", "1", "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["tasks"] == 2 and report["outputs_per_input"] == 10
    for mode in ("latent", "reference"):
        r = report[mode]
        assert set(r["judge_accuracy_per_task"]) == {"female->male", "male->female"}
        assert 0 <= r["judge_accuracy"] <= 1
        assert r["diversity_l1"] > 0 and r["diversity_judge_features"] > 0 and r["frechet_judge_features"] > 0
    assert report["references_per_task"] == {"female->male": 2, "male->female": 2}  # 2 val faces per domain
    assert 0 <= report["real"]["judge_accuracy"] <= 1 and report["real"]["diversity_l1"] > 0
    assert report["reconstruction_l1"] > 0 and report["model_step"] == 2 and not report["classifier_cached"]
    numbers = [v for v in leaves(report) if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers)
    assert "not FID" in report["feature_space"]


def test_eval_of_a_v2_model_asks_for_its_data_folder(two_step_model, tmp_path):
    result = CliRunner().invoke(app, ["eval", str(two_step_model), "--celeba-dir", str(tmp_path)])
    assert result.exit_code == 2 and "give --data DIR" in result.output


def test_a_val_domain_of_one_image_is_refused_on_one_line(two_step_model, domain_faces, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(domain_faces, data)
    for extra in sorted((data / "val" / "male").iterdir())[1:]:
        extra.unlink()
    result = CliRunner().invoke(app, ["eval", str(two_step_model), "--data", str(data), "--classifier-epochs", "1",
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"starbatch: error: {data / 'val' / 'male'}: 1 image; eval needs two or more per domain "
        "(make-faces --n 20 makes two)")


def test_frechet_distance_of_gaussians_matches_its_closed_form():
    """Two samples whitened to exact means and covariances: the distance is the formula's, to float64."""
    rng = np.random.default_rng(0)

    def sample(mean, cov, n=400):
        x = rng.normal(size=(n, 2))
        x = (x - x.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T  # exactly I
        return x @ np.linalg.cholesky(cov).T + mean

    a, b = sample([0, 0], np.diag([1.0, 4.0])), sample([3, 4], np.diag([9.0, 1.0]))
    # |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2 for commuting (diagonal) covariances
    expected = 25 + (1 - 3) ** 2 + (2 - 1) ** 2
    assert math.isclose(frechet_distance(a, b), expected, rel_tol=1e-9)
    assert abs(frechet_distance(a, a)) < 1e-9


def test_mean_pairwise_averages_the_distinct_pairs():
    import torch

    points = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0]])
    assert math.isclose(mean_pairwise(points, 1), (2 + 4 + 2) / 3 / 2)  # per-coordinate L1
    assert math.isclose(mean_pairwise(points, 2), (2 + 8**0.5 + 2) / 3, rel_tol=1e-12)
