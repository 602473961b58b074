"""Fixtures for every test folder: small real data made on the spot (model files with seeded
random weights, clips, a rendered face set), never downloaded."""

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

# STARBATCH_TEST_DEVICE=cuda puts the kernel and generator tests' tensors on the GPU, where Triton
# compiles the kernels (benchmarks/gpu_check.py); by default they run on CPU tensors under Triton's
# interpreter, which Triton reads at import (DESIGN.md).
TEST_DEVICE = os.environ.get("STARBATCH_TEST_DEVICE", "cpu")
if TEST_DEVICE not in ("cpu", "cuda"):
    raise pytest.UsageError(f"STARBATCH_TEST_DEVICE={TEST_DEVICE!r}: choose cpu or cuda")
if TEST_DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")
elif os.environ.get("TRITON_INTERPRET") == "1":
    raise pytest.UsageError("STARBATCH_TEST_DEVICE=cuda tests the compiled kernels: unset TRITON_INTERPRET")

# Under pytest-xdist each worker is one of N processes on the machine's cores: one torch (and so
# onnxruntime, which starbatch sizes from torch) thread each, not every core each, which would make
# N x cores threads fight over the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

from starbatch.models.model_file import save_model  # noqa: E402
from starbatch.models.stargan_v1.config import ModelConfig  # noqa: E402
from starbatch.models.stargan_v1.labels import label_space_for  # noqa: E402
from starbatch.models.stargan_v2 import config as v2_config  # noqa: E402
from starbatch.models.stargan_v2.networks import Networks  # noqa: E402
from starbatch.synthetic.faces import make_faces  # noqa: E402


def pytest_collection_modifyitems(items) -> None:
    """Slow tests (Ray, the benchmark scripts' dry runs: 10-90 s each) first, in their order, so that
    under pytest-xdist the two workers finish together instead of one waiting on a long test that
    came last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_home(tmp_path_factory) -> Path:
    """The exported generators (inference/onnx_cache.py) go to a temporary cache, not the user's."""
    home = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


def random_model(path: Path, dataset: str = "both", image_size: int = 64, conv_dim: int = 8,
                 with_discriminator: bool = True, seed: int = 0) -> Path:
    """A model file with seeded random weights (for plumbing tests, never shown as a result)."""
    torch.manual_seed(seed)
    config = ModelConfig(image_size=image_size, labels=label_space_for(dataset),
                         g_conv_dim=conv_dim, g_repeat_num=2, d_conv_dim=conv_dim, d_repeat_num=4)
    generator = config.new_generator()
    # Random IN affine parameters, so no layer is the identity and edits are visible.
    for name, tensor in generator.state_dict().items():
        if name.endswith((".weight", ".bias")) and tensor.dim() == 1:
            tensor.copy_(torch.randn_like(tensor) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
    discriminator = config.new_discriminator() if with_discriminator else None
    save_model(path, config, {"generator": generator.state_dict(),
                              "discriminator": discriminator.state_dict() if discriminator is not None else None})
    return path


@pytest.fixture(scope="session")
def device() -> torch.device:
    """Where the kernel and generator tests put their tensors (STARBATCH_TEST_DEVICE, default cpu)."""
    if TEST_DEVICE == "cuda":
        if not torch.cuda.is_available():
            pytest.fail("STARBATCH_TEST_DEVICE=cuda but torch sees no CUDA device")
        # the tolerances are fp32's: TF32 convs and matmuls would round to 10 bits
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(TEST_DEVICE)


@pytest.fixture(scope="session", name="random_model")
def random_model_fixture():
    """random_model(path, dataset="both", image_size=64, conv_dim=8, with_discriminator=True, seed=0)."""
    return random_model


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    """A joint (CelebA + RaFD) 64 px model file with D, seeded random weights."""
    return random_model(tmp_path_factory.mktemp("model") / "joint.safetensors", "both", image_size=64)


def random_v2_model(path: Path, domains: tuple[str, ...] = ("female", "male"), w_hpf: float = 0.0,
                    seed: int = 0) -> Path:
    """A small StarGAN v2 model file (64 px, narrow networks) with seeded random weights, for plumbing tests;
    `w_hpf` > 0 ships a FAN with PyTorch's initial weights."""
    torch.manual_seed(seed)
    config = v2_config.ModelConfig(img_size=64, domains=domains, style_dim=12, latent_dim=8, w_hpf=w_hpf, dim_in=8,
                                   max_conv_dim=32, hidden_dim=24)
    networks = Networks(config.networks)
    save_model(path, config, {name: module.state_dict() for name, module in networks.named_children()})
    return path


@pytest.fixture(scope="session", name="random_v2_model")
def random_v2_model_fixture():
    """random_v2_model(path, domains=("female", "male"), w_hpf=0.0, seed=0)."""
    return random_v2_model


@pytest.fixture(scope="session")
def v2_model(tmp_path_factory) -> Path:
    """A 64 px StarGAN v2 model file (female, male; w_hpf 0), seeded random weights."""
    return random_v2_model(tmp_path_factory.mktemp("v2_model") / "v2.safetensors")


def make_clip(
    path: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 20,
    time_base: Fraction = Fraction(1, 15360),
    step: int = 512,
    variable: bool = False,
    rotation: int = 0,
    audio_seconds: float | None = None,
    gop: int = 5,
    codec: str = "libx264",
    first_pts: int = 0,
    face: bool = False,
    walk: int = 0,
) -> Path:
    """A clip of moving gradients; `variable` gives irregular frame gaps (VFR); `face` puts a
    synthetic face (synthetic/faces.py) on them, upright as a player shows the clip, drifting a
    pixel per frame, or with `walk` that many pixels a frame to the right."""
    import av  # here, not at the top: the kernel tests run where PyAV is not installed

    pts = [first_pts]
    for i in range(1, frames):
        pts.append(pts[-1] + (step + (i % 3) * step // 2 if variable else step))
    container = av.open(str(path), "w", options={"movie_timescale": str(time_base.denominator)})
    video = container.add_stream(codec)
    video.width, video.height = width, height
    video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    video.codec_context.time_base = time_base
    video.time_base = time_base
    video.options = {"g": str(gop), "keyint_min": str(gop)} if codec == "libx264" else {
        "x265-params": f"keyint={gop}:min-keyint={gop}:log-level=error"}
    if rotation:
        video.set_display_rotation(rotation)
    audio = None
    if audio_seconds:
        audio = container.add_stream("aac", rate=48000)
        audio.layout = "mono"
    yy, xx = np.mgrid[0:height, 0:width]
    portrait = _face(min(width, height) * 3 // 4) if face else None
    for i, p in enumerate(pts):
        rgb = np.stack([(xx * 4 + i * 9) % 256, (yy * 5 + i * 3) % 256, (xx + yy + i * 7) % 256], axis=2)
        if portrait is not None:
            shown = np.rot90(rgb, rotation // 90).copy()  # as a player shows it (media/video.py's upright)
            side = portrait.shape[0]
            x = 2 + (i * walk if walk else i % 4)
            shown[2 : 2 + side, x : x + side] = portrait
            rgb = np.rot90(shown, -(rotation // 90))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
        frame.pts, frame.time_base = p, time_base
        frame.duration = (pts[i + 1] - p) if i + 1 < len(pts) else step
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if audio is not None:
        samples = int(audio_seconds * 48000)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    container.close()
    return path


def _face(side: int) -> np.ndarray:
    from PIL import Image

    from starbatch.synthetic.faces import celeba_face

    return np.asarray(Image.fromarray(celeba_face(1, 0)[0]).resize((side, side), Image.BICUBIC))


def frame_times(path: Path) -> list[Fraction]:
    """Presentation times in seconds of every decoded frame."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def audio_packets(path: Path) -> list[tuple[bytes, Fraction]]:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        stream = container.streams.audio[0]
        return [(bytes(p), p.pts * p.time_base) for p in container.demux(stream) if p.size]


def stream_facts(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first = next(container.decode(stream))
        return {"size": (first.width, first.height), "rotation": first.rotation,
                "duration": stream.duration * stream.time_base if stream.duration else None,
                "codec": stream.codec_context.name}  # fmt: skip


@pytest.fixture(scope="session", name="make_clip")
def make_clip_fixture():
    """make_clip(path, width=64, height=48, frames=20, ...): a tiny clip of moving gradients (see make_clip)."""
    return make_clip


@pytest.fixture(scope="session", name="frame_times")
def frame_times_fixture():
    return frame_times


@pytest.fixture(scope="session", name="audio_packets")
def audio_packets_fixture():
    return audio_packets


@pytest.fixture(scope="session", name="stream_facts")
def stream_facts_fixture():
    return stream_facts


@pytest.fixture(scope="session")
def faces_tree(tmp_path_factory) -> Path:
    """A tiny rendered CelebA + RaFD tree (24 faces, 3 RaFD people), made once per session."""
    root = tmp_path_factory.getbasetemp() / "faces-24"
    if not (root / "rafd" / "test").is_dir():
        make_faces(root, 24, seed=5, rafd_identities=3)
    return root
