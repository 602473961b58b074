"""The README's before/after grid: each example photo, then one column per edit.

Every column is what `starbatch edit` writes (the same command a user runs, full size, the edit
pasted back as a residual), so the grid shows the product, not a model-size crop.

    python examples/before_after.py [--model M] [-o examples/before_after.png]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from starbatch.cli.common import BUNDLED_MODEL
from starbatch.models.registry import read_config

HERE = Path(__file__).resolve().parent
EDITS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young", "happy", "surprised", "sad"]
TILE = 128


def edit_all(model: Path, photos: Path, edit: str, expressions: tuple[str, ...], out: Path) -> None:
    option = ["--expression", edit] if edit in expressions else ["--to", edit]
    command = [sys.executable, "-m", "starbatch", "edit", str(photos), *option, "--model", str(model),
               "-o", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL)
    parser.add_argument("--photos", type=Path, default=HERE / "photos")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "before_after.png")
    args = parser.parse_args()
    photos = sorted(args.photos.glob("*.jpg"))
    expressions = read_config(args.model).labels.by_name("rafd").labels
    with tempfile.TemporaryDirectory() as scratch:
        columns = [("input", photos)]
        for edit in EDITS:
            out = Path(scratch) / edit
            edit_all(args.model, args.photos, edit, expressions, out)
            columns.append((edit, [out / p.name for p in photos]))
        header = 18
        grid = Image.new("RGB", (TILE * len(columns), header + TILE * len(photos)), "white")
        draw = ImageDraw.Draw(grid)
        for col, (title, paths) in enumerate(columns):
            draw.text((col * TILE + 4, 3), title, fill="black")
            for row, path in enumerate(paths):
                with Image.open(path) as picture:
                    tile = picture.convert("RGB").resize((TILE, TILE), Image.LANCZOS)
                grid.paste(tile, (col * TILE, header + row * TILE))
    grid.save(args.output, optimize=True)
    print(f"wrote {args.output} ({len(photos)} photos x {len(EDITS)} edits) with {args.model}")


if __name__ == "__main__":
    main()
