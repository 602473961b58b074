"""The README's StarGAN v2 grid: each example photo, then reference-guided results (the style of
each reference photo) and latent-guided ones (three seeds per domain).

Every cell is what `starbatch edit` writes (full size, the edit pasted back), so the grid shows the
product, not a model-size crop. The top row shows the references above their columns.

    python examples/v2_grid.py [--model M] [-o examples/v2_grid.jpg]
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from starbatch.cli.common import BUNDLED_V2_MODEL
from starbatch.models.registry import read_config

HERE = Path(__file__).resolve().parent
SEEDS = (1, 2, 3)
TILE = 128


def edit(model: Path, photos: Path, options: list[str], out: Path) -> None:
    command = [sys.executable, "-m", "starbatch", "edit", str(photos), *options, "--model", str(model), "-o", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BUNDLED_V2_MODEL)
    parser.add_argument("--photos", type=Path, default=HERE / "photos")
    parser.add_argument("--references", type=Path, default=HERE / "references")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "v2_grid.jpg")
    args = parser.parse_args()
    photos = sorted(args.photos.glob("*.jpg"))
    domains = read_config(args.model).domains
    references = [args.references / f"{domain}.jpg" for domain in domains]
    with tempfile.TemporaryDirectory() as scratch:
        columns = [("input", None, photos)]
        for domain, reference in zip(domains, references, strict=True):
            out = Path(scratch) / f"ref-{domain}"
            edit(args.model, args.photos, ["--domain", domain, "--ref", str(reference)], out)
            columns.append((f"ref: {domain}", reference,
                            [out / f"{p.stem}_{domain}_ref-{reference.stem}{p.suffix}" for p in photos]))
        for domain in domains:
            out = Path(scratch) / f"latent-{domain}"
            edit(args.model, args.photos, ["--domain", domain, "--seed", ",".join(map(str, SEEDS))], out)
            for seed in SEEDS:
                columns.append((f"{domain} seed {seed}", None,
                                [out / f"{p.stem}_{domain}_s{seed}{p.suffix}" for p in photos]))
        header = 18
        top = header + TILE  # the references' row
        grid = Image.new("RGB", (TILE * len(columns), top + TILE * len(photos)), "white")
        draw = ImageDraw.Draw(grid)
        for col, (title, reference, paths) in enumerate(columns):
            draw.text((col * TILE + 4, 3), title, fill="black")
            for row, path in enumerate(([reference] if reference else []) + paths):
                with Image.open(path) as picture:
                    tile = picture.convert("RGB").resize((TILE, TILE), Image.LANCZOS)
                y = header if reference and row == 0 else top + (row - (1 if reference else 0)) * TILE
                grid.paste(tile, (col * TILE, y))
    grid.save(args.output, quality=88)  # JPEG: a sixth of the PNG's size
    print(f"wrote {args.output} ({len(photos)} photos; references {', '.join(map(str, domains))}; "
          f"seeds {SEEDS}) with {args.model}")


if __name__ == "__main__":
    main()
