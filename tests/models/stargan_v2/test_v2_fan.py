"""FAN, the face-mask network of StarGAN v2: official heatmaps, and masks made as the official code makes them."""

import copy

import official_stargan_v2 as official
import pytest
import torch

from starbatch.models.stargan_v2.fan import FAN, heatmap_masks
from starbatch.models.stargan_v2.networks import Networks

# One worker takes the module, so its four FAN runs (6 s) are made once, not once per worker.
pytestmark = pytest.mark.xdist_group("v2_fan")


@pytest.fixture(scope="session")
def fans(fan_state):
    fan32 = FAN()
    fan32.load_state_dict(fan_state, strict=True)
    return fan32, copy.deepcopy(fan32).double()


@pytest.fixture(scope="session")
def face_128():
    """One smooth 128 px image in [-1, 1] (get_heatmap resizes it to FAN's 256 px)."""
    generator = torch.Generator().manual_seed(11)
    coarse = torch.rand(1, 3, 16, 16, generator=generator) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=128, mode="bicubic", align_corners=False).clamp(-1, 1)


@pytest.fixture(scope="session")
def heatmap_runs(fans, fan_state, face_128):
    """get_heatmap of one face by starbatch and by the restatement, fp32 and fp64: the masks and FAN's own
    (1, 99, 64, 64) output on the way (four FAN runs, the costly part, shared by the tests)."""
    state64 = {k: v.double() if v.is_floating_point() else v for k, v in fan_state.items()}
    runs = {}
    for name, fan, state, dtype in (("ours32", fans[0], None, torch.float32), ("ours64", fans[1], None, torch.float64),
                                    ("official32", None, fan_state, torch.float32),
                                    ("reference64", None, state64, torch.float64)):
        raw = []
        x = face_128.to(dtype)
        if fan is not None:
            hook = fan.register_forward_hook(lambda module, inputs, output, raw=raw: raw.append(output))
            masks = fan.get_heatmap(x)
            hook.remove()
        else:
            masks = official.get_heatmap(state, x, raw=raw)
        runs[name] = dict(raw=raw[0], masks=masks)
    return runs


def test_fan_heatmaps_match_official(heatmap_runs, agreement):
    raw = {name: run["raw"] for name, run in heatmap_runs.items()}
    assert raw["ours32"].shape == (1, 99, 64, 64)  # 98 landmarks and the boundary map
    agreement(raw["ours32"], raw["official32"], raw["ours64"], raw["reference64"])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_masks_from_heatmaps_equal_the_official_preprocess(heatmap_runs, dtype):
    heatmaps = torch.nn.functional.interpolate(heatmap_runs["reference64"]["raw"][:, :-1], scale_factor=4,
                                               mode="bilinear", align_corners=True).to(dtype)
    ours = heatmap_masks(heatmaps.clone())
    theirs = official.preprocess(heatmaps.clone())
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.shape == (1, 1, 256, 256)
        assert torch.equal(mine, reference)  # same operations on the same numbers


def test_get_heatmap_matches_official_end_to_end(heatmap_runs):
    ours, reference = heatmap_runs["ours64"], heatmap_runs["reference64"]
    # Away from the 0.1 cut, the masks are Lipschitz in the heatmaps: each map is divided by its
    # range, raised to at most the 4th power and summed over 98 maps; so the fp64 heatmap difference
    # times 4 * 98 / (smallest range) bounds the mask difference.
    raw = (ours["raw"] - reference["raw"]).abs().max().item()
    raw = max(raw, torch.finfo(torch.float64).eps * reference["raw"].abs().max().item())
    ranges = reference["raw"][:, :-1].flatten(2)
    smallest_range = (ranges.max(dim=2).values - ranges.min(dim=2).values).min().item()
    bound = raw * 4 * 98 / smallest_range
    for mine, theirs in zip(ours["masks"], reference["masks"], strict=True):
        assert mine.shape == (1, 1, 256, 256) and 0 <= mine.min() and mine.max() <= 1
        assert 0.01 < (mine > 0).double().mean() < 0.99  # neither empty nor full: a real test of the cut
        assert (mine - theirs).abs().max().item() <= bound


def _blobs(*faces: dict[int, tuple[int, int]], sigma: float = 2.0) -> torch.Tensor:
    """(N, 98, 256, 256) heatmaps, one face per dict: a Gaussian per given landmark channel at (row, col)."""
    rows = torch.arange(256.0)[:, None]
    cols = torch.arange(256.0)[None, :]
    heatmaps = torch.zeros(len(faces), 98, 256, 256)
    for n, points in enumerate(faces):
        for channel, (row, col) in points.items():
            heatmaps[n, channel] = torch.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma**2))
    return heatmaps


def test_jaw_ends_and_edge_points_are_left_out_of_both_masks():
    face, inner = heatmap_masks(_blobs({3: (40, 40), 28: (60, 200), 33: (80, 80), 46: (80, 170), 76: (190, 100),
                                        82: (190, 150)}))
    assert face.abs().max() == 0 and inner.abs().max() == 0


def test_mouth_chin_and_eyebrows_are_in_the_face_mask_only():
    channels = (12, 40, 78, 85, 90)  # chin, eyebrow, upper, lower and inner lip
    face, inner = heatmap_masks(_blobs(*({channel: (128, 128)} for channel in channels)))
    assert all(face[n].max() > 0.99 for n in range(len(channels))) and inner.abs().max() == 0


def test_eye_landmarks_are_moved_down_twice():
    # Official: eyes = shift(eyes, -8) ** 3 + shift(eyes, -24), i.e. copies 8 and 24 rows lower.
    face, inner = heatmap_masks(_blobs({65: (100, 120)}))
    column = inner[0, 0, :, 120]
    assert torch.equal(face, inner)
    assert column[108] > 0.99 and column[124] > 0.99 and column[100] < 0.01


def test_fan_stays_in_inference_mode(layouts):
    networks = Networks(layouts["tiny"].config())
    networks.train()
    assert networks.generator.training and not networks.fan.training
    assert not any(module.training for module in networks.fan.modules())
