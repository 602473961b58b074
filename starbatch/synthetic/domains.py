"""A synthetic face set in StarGAN v2's layout: OUT/train/<domain>/ and OUT/val/<domain>/.

The domains are one attribute the renderer draws by shape (faces.py): gender (female, male), age
(old, young), hair colour (black, blond, brown, gray, red) or expression (the 8 RaFD ones). Within a
domain everything else varies as the CelebA-like faces do: hair colour and style, skin tone,
expression, face shape, framing, tilt, background and lighting. Every face comes from its own
seed (seed, domain, index), so a set is the same on every machine.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from starbatch.errors import StarbatchError
from starbatch.models.stargan_v1.labels import RAFD_EXPRESSIONS
from starbatch.synthetic.faces import FEMALE_STYLES, HAIR_RGB, MALE_STYLES, SIZE, Pose, render_face, sample_person

DOMAIN_GROUPS = {
    "gender": ("female", "male"),
    "age": ("old", "young"),
    "hair": tuple(HAIR_RGB),
    "expression": RAFD_EXPRESSIONS,
}
V2_SET = 2  # seeds apart from faces.py's CELEBA (0) and RAFD (1) trees
# Expressions drawn where expression is not the domain: mostly calm faces, every one now and then.
EXPRESSION_WEIGHTS = {"neutral": 0.4, "happy": 0.3, **{e: 0.3 / 6 for e in RAFD_EXPRESSIONS
                                                      if e not in ("neutral", "happy")}}


def domain_group(domains: list[str]) -> str:
    """The attribute the domains split, refusing names the renderer cannot draw or that mix two."""
    if len(domains) < 2 or len(set(domains)) != len(domains):
        raise StarbatchError(f"--domains {','.join(domains)}: give two or more different domains")
    for group, names in DOMAIN_GROUPS.items():
        if all(name in names for name in domains):
            return group
    choices = "; ".join(f"{group}: {','.join(names)}" for group, names in DOMAIN_GROUPS.items())
    raise StarbatchError(f"--domains {','.join(domains)}: the renderer draws domains of one attribute, "
                         f"from {choices}")


def domain_face(seed: int, group: str, domain: str, index: int) -> np.ndarray:
    """One face of `domain` (uint8 SIZE x SIZE x 3), the rest of the person drawn at random."""
    domain_index = DOMAIN_GROUPS[group].index(domain)
    rng = np.random.default_rng([seed, V2_SET, list(DOMAIN_GROUPS).index(group), domain_index, index])
    person = sample_person(rng)
    expression = str(rng.choice(list(EXPRESSION_WEIGHTS), p=list(EXPRESSION_WEIGHTS.values())))
    if group == "gender" and person.male != (domain == "male"):
        person.male = domain == "male"
        person.hair_style = str(rng.choice(MALE_STYLES if person.male else FEMALE_STYLES))
    elif group == "age":
        person.young = domain == "young"
        if person.young and person.hair_colour == "gray":
            person.hair_colour = "red"  # the renderer keeps gray hair for the old
    elif group == "hair":
        person.hair_colour = domain
    elif group == "expression":
        expression = domain
    if person.hair_style == "bald" and (person.young or group == "hair"):
        person.hair_style = "short"  # a hair-colour domain needs hair to show it
    pose = Pose(
        centre=(SIZE / 2 + rng.normal(0, 3), SIZE * 0.52 + rng.normal(0, 3)),
        scale=SIZE * 0.23 * rng.uniform(0.9, 1.1),
        tilt=float(np.deg2rad(rng.normal(0, 5))),
        plain_background=bool(rng.random() < 0.15),
    )
    return render_face(person, pose, expression, rng)


def make_domain_faces(out: Path, domains: list[str], n: int, seed: int = 0, progress=None) -> dict[str, int]:
    """Write n faces per domain: a tenth (at least one) to OUT/val/<domain>/, the rest to OUT/train/<domain>/."""
    group = domain_group(domains)
    val = max(1, n // 10)
    if n - val < 1:
        raise StarbatchError(f"--n {n}: each domain needs at least one training and one validation face")
    out = Path(out)
    for domain in domains:
        for split in ("train", "val"):
            (out / split / domain).mkdir(parents=True, exist_ok=True)
        for index in range(n):
            split = "val" if index >= n - val else "train"
            image = domain_face(seed, group, domain, index)
            Image.fromarray(image).save(out / split / domain / f"{index:06d}.jpg", quality=95)
            if progress:
                progress()
    return {"group": group, "train_per_domain": n - val, "val_per_domain": val}
