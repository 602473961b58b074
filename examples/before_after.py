"""The README's before/after grid: each example photo, then one column per edit, made with the
same batch function as `starbatch edit` (centre crop at model size, like --crop-only).

    python examples/before_after.py [--model M] [-o examples/before_after.png]
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from starbatch.checkpoint import load_model
from starbatch.cli import BUNDLED_MODEL
from starbatch.editing import Editor, face_box, model_input, to_uint8
from starbatch.images import read_photo
from starbatch.labels import plan_passes

HERE = Path(__file__).resolve().parent
EDITS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male=0", "Male", "Young=0", "happy", "sad", "surprised", "angry"]
TILE = 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--photos", type=Path, default=HERE / "photos")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "before_after.png")
    args = parser.parse_args()
    model = load_model(args.model)
    size = model.config.image_size
    photos = sorted(args.photos.glob("*.jpg"))
    inputs = []
    for path in photos:
        photo = read_photo(path)
        inputs.append(model_input(photo, face_box(*photo.size), size))
    batch = torch.from_numpy(np.stack(inputs))
    columns = [to_uint8(batch)]
    for edit in EDITS:
        to, expression = (None, edit) if edit in model.config.labels.by_name("rafd").labels else (edit, None)
        editor = Editor(model, plan_passes(model.config.labels, to, expression), device="cpu")
        columns.append(to_uint8(editor(batch)))
    header = 18
    grid = Image.new("RGB", (TILE * len(columns), header + TILE * len(photos)), "white")
    draw = ImageDraw.Draw(grid)
    for col, (title, pictures) in enumerate(zip(["input", *EDITS], columns, strict=True)):
        draw.text((col * TILE + 4, 3), title, fill="black")
        for row, picture in enumerate(pictures):
            grid.paste(Image.fromarray(picture).resize((TILE, TILE), Image.BICUBIC), (col * TILE, header + row * TILE))
    grid.save(args.output, optimize=True)
    print(f"wrote {args.output} ({len(photos)} photos x {len(EDITS)} edits) with {args.model}")


if __name__ == "__main__":
    main()
