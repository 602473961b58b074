"""`edit --crop-only --faces center` on a converted official StarGAN v2 checkpoint writes the official
sample-mode output on that crop: x = the crop resized as the official loader does (Pillow bilinear, [-1, 1]),
s = F(z_seed, y) (lerp toward the mean with psi) or E(x_ref, y), G(x, s, masks=FAN.get_heatmap(x)),
saved as torchvision's save_image rounds. Everything official comes from the independent restatement
(official_stargan_v2.py); fp32 both sides, so the bytes may differ by one step of rounding at most."""

import numpy as np
import official_stargan_v2 as official
import torch
from PIL import Image
from typer.testing import CliRunner

from starbatch.cli import app
from starbatch.models.stargan_v2.sample import MEAN_STYLE_SAMPLES, MEAN_STYLE_SEED
from starbatch.synthetic.pictures import face_like


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def converted(tmp_path, nets, save):
    path = tmp_path / "model.safetensors"
    run("convert", save(nets), "-o", path)
    return path


def photo(path, width, height, seed):
    Image.fromarray(face_like(width, height, seed)).save(path)
    return path


def official_input(path, size):
    """The official test loader on the central square: Resize([size, size]) of the PIL image, ToTensor,
    Normalize(0.5, 0.5)."""
    image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    crop = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1


def saved(x):
    """torchvision save_image(denormalize(x)): clamp to [0, 1], x 255 + 0.5, clamp, truncate."""
    x01 = ((x[0] + 1) / 2).clamp(0, 1)
    return x01.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy().astype(int)


def latent(nets, seed, domain, num_domains, latent_dim):
    z = torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(seed))
    return official.mapping_network(nets["mapping_network"], z, torch.tensor([domain]), num_domains)


def written(folder, name):
    return np.asarray(Image.open(folder / name), dtype=int)


def test_a_seed_on_a_w_hpf_model_is_the_official_forward_with_the_crops_face_masks(tmp_path, layouts,
                                                                                  official_nets, save):
    layout = layouts["tiny"]  # 64 px, 2 domains, w_hpf 1: masks at 32 px
    nets = official_nets(layout)
    model = converted(tmp_path, nets, save)
    source = photo(tmp_path / "face.png", 96, 80, 3)
    run("edit", source, "-m", model, "--domain", "male", "--seed", "7", "--crop-only", "--faces", "center",
        "-o", tmp_path / "out")
    x = official_input(source, 64)
    s = latent(nets, 7, 1, 2, layout.latent_dim)
    masks = official.get_heatmap(nets["fan"], x)
    expected = saved(official.generator(nets["generator"], x, s, 64, 1.0, masks=masks))
    ours = written(tmp_path / "out", "face_male_s7.png")
    assert np.abs(ours - expected).max() <= 1
    without_masks = saved(official.generator(nets["generator"], x, s, 64, 1.0))
    assert np.abs(ours - without_masks).max() > 8  # the masks are used, and they are the crop's


def test_a_truncated_seed_and_a_reference_are_the_official_styles(tmp_path, layouts, official_nets, save):
    layout = layouts["tiny_plain"]  # 64 px, 3 domains (cat, dog, wild), w_hpf 0
    nets = official_nets(layout)
    model = converted(tmp_path, nets, save)
    source = photo(tmp_path / "face.png", 80, 100, 4)
    reference = photo(tmp_path / "ref.png", 120, 90, 5)
    run("edit", source, "-m", model, "--domain", "wild", "--seed", "3", "--psi", "0.7", "--crop-only",
        "--faces", "center", "-o", tmp_path / "out")
    run("edit", source, "-m", model, "--domain", "dog", "--ref", reference, "--crop-only", "--faces", "center",
        "-o", tmp_path / "out_ref")  # other settings: another folder (its run record refuses a mix)
    x = official_input(source, 64)

    z = torch.randn(MEAN_STYLE_SAMPLES, layout.latent_dim, generator=torch.Generator().manual_seed(MEAN_STYLE_SEED))
    mean = official.mapping_network(nets["mapping_network"], z, torch.full((MEAN_STYLE_SAMPLES,), 2), 3).mean(0)
    s = torch.lerp(mean[None], latent(nets, 3, 2, 3, layout.latent_dim), 0.7)
    expected = saved(official.generator(nets["generator"], x, s, 64, 0.0))
    assert np.abs(written(tmp_path / "out", "face_wild_s3.png") - expected).max() <= 1

    s_ref = official.style_encoder(nets["style_encoder"], official_input(reference, 64), torch.tensor([1]), 64, 3)
    expected = saved(official.generator(nets["generator"], x, s_ref, 64, 0.0))
    assert np.abs(written(tmp_path / "out_ref", "face_dog_ref-ref.png") - expected).max() <= 1
