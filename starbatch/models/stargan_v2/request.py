"""A StarGAN v2 edit request, checked against the model file's header alone (no torch): the target
domain and where its styles come from, --seed (with --psi) or --ref. conditioning.py makes the styles."""

import difflib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from starbatch.errors import StarbatchError
from starbatch.models.family import EditOptions
from starbatch.models.stargan_v2.config import ModelConfig

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes any 64-bit value; seeds are named up to this


@dataclass(frozen=True)
class StyleRequest:
    """The target domain and where its styles come from: `seeds` (with truncation `psi`) or a
    `reference` face crop at model size. Small and picklable: Ray workers make the styles themselves."""

    domain: int
    domain_name: str
    seeds: tuple[int, ...] = ()
    psi: float = 1.0
    reference: np.ndarray | None = None  # (3, S, S) float32 in [-1, 1]
    reference_name: str = ""

    @property
    def variants(self) -> tuple[str, ...]:
        """Output name suffixes, one per style: _male_s7 per seed, _male_ref-<reference stem> for a reference."""
        if self.reference is not None:
            return (f"_{self.domain_name}_ref-{self.reference_name}",)
        return tuple(f"_{self.domain_name}_s{seed}" for seed in self.seeds)


def resolve_domain(config: ModelConfig, name: str) -> int:
    """The domain's index, its name matched ignoring case; an unknown one names the closest and all."""
    lowered = [domain.lower() for domain in config.domains]
    if name.strip().lower() in lowered:
        return lowered.index(name.strip().lower())
    close = difflib.get_close_matches(name.strip().lower(), lowered, n=1, cutoff=0.5)
    hint = f" Did you mean {config.domains[lowered.index(close[0])]!r}?" if close else ""
    raise StarbatchError(f"--domain {name}: unknown domain {name.strip()!r}.{hint} Valid: {', '.join(config.domains)}")


def parse_seeds(text: str) -> tuple[int, ...]:
    seeds = []
    for part in text.split(","):
        try:
            seed = int(part.strip())
        except ValueError:
            raise StarbatchError(f"--seed {text}: seeds are whole numbers, comma-separated (--seed 1,2,3)") from None
        if not 0 <= seed <= MAX_SEED:
            raise StarbatchError(f"--seed {text}: a seed is from 0 to {MAX_SEED}")
        if seed in seeds:
            raise StarbatchError(f"--seed {text}: seed {seed} is given twice")
        seeds.append(seed)
    return tuple(seeds)


def style_request(path: Path, config: ModelConfig, networks: set[str], options: EditOptions) -> StyleRequest:
    """--domain with --seed (and --psi) or --ref, checked against the file's domains and networks."""
    name = Path(path).name
    example = f"e.g. --domain {config.domains[-1]} --seed 7, or --domain {config.domains[-1]} --ref face.jpg"
    if options.domain is None:
        raise StarbatchError(f"{name} is a stargan-v2 model: give the target --domain "
                             f"({', '.join(config.domains)}) and a style, {example}")
    domain = resolve_domain(config, options.domain)
    if (options.seed is None) == (options.reference is None):
        which = "both" if options.seed is not None else "neither"
        raise StarbatchError(f"{name}: give the style with --seed N[,N...] or with --ref PHOTO ({which} given); "
                             f"{example}")
    if config.networks.uses_masks and "fan" not in networks:
        raise StarbatchError(f"{name}: a w_hpf {config.w_hpf:g} model without its FAN face-mask weights; "
                             "convert it again with --wing")
    if options.reference is not None:
        if options.psi is not None:
            raise StarbatchError("--psi truncates the styles of --seed; a --ref style is the reference's own")
        if "style_encoder" not in networks:
            raise StarbatchError(f"{name} carries no style encoder: use --seed")
        if options.crop_reference is None:
            raise ValueError("options.crop_reference: the inference side crops the reference photo")
        crop = np.asarray(options.crop_reference(options.reference), dtype=np.float32)
        return StyleRequest(domain, config.domains[domain], reference=crop, reference_name=Path(options.reference).stem)
    psi = 1.0 if options.psi is None else float(options.psi)
    if not 0.0 <= psi <= 1.0:
        raise StarbatchError(f"--psi {options.psi}: truncation is from 0 (the domain's mean style) to 1 (none)")
    if "mapping_network" not in networks:
        raise StarbatchError(f"{name} carries no mapping network: use --ref")
    return StyleRequest(domain, config.domains[domain], seeds=parse_seeds(options.seed), psi=psi)
