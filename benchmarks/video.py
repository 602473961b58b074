"""`starbatch video` throughput: decode+encode alone, the model alone, and the whole command.

Goal (issue 5): the whole command at >= 90% of the slower of the other two, i.e. decoding,
encoding and the model overlap instead of adding up. Frames/s of each, best of --repeats:
- decode+encode: decode every frame to RGB and encode it again with the same SegmentWriter and
  settings as the command (no model);
- model: the Editor on batches of model inputs already in memory (G, and nothing else);
- video: `edit_video` end to end (probe, decode ahead, G, paste back, encode behind, join audio),
  with `--faces center` so the model sees what "model" timed;
- video, following the face: the same with `--faces detect` (the clip's face found in 8 sampled
  frames, then searched every half second and the crop glided, face_track.py): what following
  costs, as a ratio to the `--faces center` run.

The default model has random weights in the official architecture (conv_dim 64, 6 residual
blocks, 128 px): its speed is a real model's; its pictures are meaningless.

    python benchmarks/video.py --clip examples/face.mp4 --repeats 2
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from starbatch.engines.video import edit_video, upright_photo
from starbatch.faces.detection import centre_box
from starbatch.inference.compositing import model_input
from starbatch.inference.editor import EditorSpec
from starbatch.media.video import EncodeSettings, SegmentWriter, decode_segment, plan_segments, probe
from starbatch.models.family import EditOptions
from starbatch.models.model_file import save_model
from starbatch.models.stargan_v1.config import ModelConfig
from starbatch.models.stargan_v1.labels import label_space_for


def random_model(path: Path, image_size: int) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(image_size=image_size, labels=label_space_for("both"))
    save_model(path, config, {"generator": config.new_generator().state_dict(),
                              "discriminator": config.new_discriminator().state_dict()})
    return path


def decode_encode(clip: Path, out: Path, settings: EncodeSettings) -> float:
    info = probe(clip)
    start = time.perf_counter()
    writer = SegmentWriter(out, info, settings)
    for frame in decode_segment(clip, plan_segments(info, 1)[0]):
        writer.write(frame.to_ndarray(format="rgb24"), frame.pts, frame.duration)
    writer.close()
    return info.frame_count / (time.perf_counter() - start)


def model_alone(clip: Path, spec: EditorSpec, batch_size: int) -> float:
    info = probe(clip)
    editor = spec.build()
    photos = [upright_photo(f, info.rotation) for f in decode_segment(clip, plan_segments(info, 1)[0])]
    inputs = [model_input(photo, centre_box(*photo.size), editor.image_size) for photo in photos]
    batches = [torch.from_numpy(np.stack(inputs[i : i + batch_size])) for i in range(0, len(inputs), batch_size)]
    editor(batches[0])  # warm-up
    start = time.perf_counter()
    for batch in batches:
        editor(batch)
    return len(inputs) / (time.perf_counter() - start)


def whole(clip: Path, out: Path, spec: EditorSpec, settings: EncodeSettings, batch_size: int,
          faces: str = "center") -> float:
    editor = spec.build()
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    summary = edit_video(clip, out, editor, settings, batch_size=batch_size, progress=False, faces=faces)
    return summary["frames"] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=Path(__file__).parent.parent / "examples" / "face.mp4")
    parser.add_argument("--model", type=Path, help="model file (default: random weights, official size)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--expression", default="happy")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    settings = EncodeSettings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model or random_model(folder / "model.safetensors", args.image_size)
        spec = EditorSpec.from_options(model, EditOptions(expression=args.expression), args.device)
        rates = {"decode+encode": 0.0, "model": 0.0, "video": 0.0, "video, detect": 0.0}
        for _ in range(args.repeats):
            rates["decode+encode"] = max(rates["decode+encode"], decode_encode(args.clip, folder / "io.mp4", settings))
            rates["model"] = max(rates["model"], model_alone(args.clip, spec, args.batch_size))
            rates["video"] = max(rates["video"], whole(args.clip, folder / "out.mp4", spec, settings,
                                                       args.batch_size))  # fmt: skip
            rates["video, detect"] = max(rates["video, detect"], whole(
                args.clip, folder / "out.mp4", spec, settings, args.batch_size, faces="detect"))
    info = probe(args.clip)
    print(f"clip {args.clip.name}: {info.frame_count} frames {info.width}x{info.height}; model "
          f"{'random official-size' if not args.model else args.model.name}, {args.image_size} px, "
          f"batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    for name, rate in rates.items():
        print(f"{name:14s} {rate:8.2f} frames/s")
    slower = min(rates["decode+encode"], rates["model"])
    print(f"video / decode+encode {rates['video'] / rates['decode+encode']:.2f}; video / model "
          f"{rates['video'] / rates['model']:.2f}; video / slower of the two {rates['video'] / slower:.2f} "
          "(goal >= 0.90)")
    print(f"following the face (--faces detect) / --faces center {rates['video, detect'] / rates['video']:.2f}")


if __name__ == "__main__":
    main()
