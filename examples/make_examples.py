"""Make the bundled examples with the project's own face renderer: a few photos and a short video
with an audio track. Deterministic; rerun to regenerate.

    python examples/make_examples.py
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from starbatch.synthetic.domains import domain_face
from starbatch.synthetic.faces import Pose, celeba_face, render_face, sample_person

HERE = Path(__file__).resolve().parent
SEED = 2026  # not a seed any training or eval run uses
FPS = 24
SECONDS = 3
AUDIO_RATE = 44100


def make_photos(folder: Path, count: int = 6) -> None:
    """Faces at twice the renderer's size (bicubic), so the paste-back at photo size shows."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        face, _ = celeba_face(SEED, index)
        image = Image.fromarray(face)
        image = image.resize((image.width * 2, image.height * 2), Image.BICUBIC)
        image.save(folder / f"face_{index + 1:02d}.jpg", quality=92)


def make_references(folder: Path, domains: tuple[str, ...] = ("female", "male")) -> None:
    """One face per gender domain, for StarGAN v2's reference-guided edits (`edit --ref`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for domain in domains:
        image = Image.fromarray(domain_face(SEED, "gender", domain, 0))
        image.resize((image.width * 2, image.height * 2), Image.BICUBIC).save(folder / f"{domain}.jpg", quality=92)


def make_video(path: Path) -> None:
    """One person turning their head slightly, neutral expression, with a two-tone audio track.

    A plain studio backdrop, as in RaFD, whose expressions the video demo edits.
    """
    rng = np.random.default_rng([SEED, 7])
    person = sample_person(rng)
    frames = FPS * SECONDS
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=FPS, options={"crf": "18"})
        video.width = video.height = 256
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        for index in range(frames):
            phase = 2 * np.pi * index / frames
            pose = Pose(centre=(64 + 3 * np.sin(phase), 66.0), scale=29.5, tilt=float(np.deg2rad(6 * np.sin(phase))),
                        plain_background=True)
            # one backdrop, blur and sensor noise for the whole clip: only the head moves
            face = render_face(person, pose, "neutral", np.random.default_rng([SEED, 8]))
            image = Image.fromarray(face).resize((256, 256), Image.BICUBIC)
            for packet in video.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        samples_per_frame = 1024
        t = np.arange(AUDIO_RATE * SECONDS) / AUDIO_RATE
        tone = 0.2 * np.sin(2 * np.pi * np.where(t % 1 < 0.5, 440, 660) * t).astype(np.float32)
        for start in range(0, len(t), samples_per_frame):
            chunk = np.ascontiguousarray(np.stack([tone[start : start + samples_per_frame]] * 2))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = start
            frame.time_base = Fraction(1, AUDIO_RATE)
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)


if __name__ == "__main__":
    make_photos(HERE / "photos")
    make_references(HERE / "references")
    make_video(HERE / "face.mp4")
    print(f"wrote {HERE / 'photos'}, {HERE / 'references'} and {HERE / 'face.mp4'}")
