"""StarGAN v2 as a model family: its configuration, networks, official import and style conditioning.

A model file holds `generator.*`, `mapping_network.*`, `style_encoder.*` and, when w_hpf > 0,
`fan.*`: the entries of an official `*_nets_ema.ckpt`, loaded strictly. What the Editor runs as G
is sample.StyleTranslator (FAN masks of the crop, then G), so the Editor and engines need no v2 case.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.errors import StarbatchError
from starbatch.models.family import EditOptions, Family, GeneratorExport, LoadedModel
from starbatch.models.stargan_v2.config import ARCHITECTURE, ModelConfig, config_from_dict
from starbatch.models.stargan_v2.request import StyleRequest, resolve_domain, style_request

if TYPE_CHECKING:  # torch loads with the weights: a usage error answers before it (cli/)
    import torch

    from starbatch.models.stargan_v2.conditioning import StyleConditioning

NETWORKS = ("generator", "mapping_network", "style_encoder", "fan")


class StarGANv2(Family):
    architecture = ARCHITECTURE
    takes = ("domain", "seed", "psi", "reference")

    def config_from_json(self, path: Path, data: dict) -> ModelConfig:
        return config_from_dict(path, data)

    def load(self, path: Path, config: ModelConfig, tensors: dict[str, torch.Tensor],
             device: str | torch.device = "cpu") -> LoadedModel:  # fmt: skip
        """All four networks (FAN only with w_hpf > 0), strictly; G runs the fused kernels on CUDA."""
        import torch

        from starbatch.models.stargan_v2.networks import Networks
        from starbatch.models.stargan_v2.sample import StyleTranslator

        networks = Networks(config.networks)
        state = {key: value for key, value in tensors.items() if key.partition(".")[0] in NETWORKS}
        try:
            networks.load_state_dict(state, strict=True)
        except RuntimeError as error:
            details = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
            raise StarbatchError(f"{path}: weights do not fit the stargan-v2 networks of its metadata: "
                                 f"{(details or [str(error)])[0][:300]}") from None
        device = torch.device(device)
        # The official layers on the CPU; on CUDA the fused AdaIN / IN + LeakyReLU kernels (kernels/).
        networks.generator.backend = "auto" if device.type == "cuda" else None
        networks = networks.to(device).eval()
        return LoadedModel(path, config, self, {
            "generator": StyleTranslator(networks.generator, networks.fan),
            "mapping_network": networks.mapping_network,
            "style_encoder": networks.style_encoder,
        })

    def import_official(self, checkpoint: Path, wing: Path | None = None, domains: str | None = None):
        """An official `*_nets_ema.ckpt` (+ wing.ckpt): the layout from its tensors, framed as CelebA-HQ."""
        from starbatch.models.stargan_v2.official import load_official

        official = load_official(checkpoint, wing, domains)
        config = ModelConfig.from_networks(official.config, official.domains, framing="celeba-hq",
                                           notes=official.notes)
        nets = official.networks
        return config, {"generator": nets.generator.state_dict(), "mapping_network": nets.mapping_network.state_dict(),
                        "style_encoder": nets.style_encoder.state_dict(),
                        "fan": nets.fan.state_dict() if nets.fan is not None else None}

    def request(self, path: Path, config: ModelConfig, networks: set[str], options: EditOptions) -> StyleRequest:
        return style_request(Path(path), config, networks, options)

    def conditioning(self, model: LoadedModel, request: StyleRequest) -> StyleConditioning:
        from starbatch.models.stargan_v2.conditioning import StyleConditioning

        return StyleConditioning(model, request)

    def generator_export(self, model: LoadedModel) -> GeneratorExport:
        """The whole translator, FAN masks included (w_hpf > 0), with the style codes an input: one
        graph for every seed and reference. Measured here the FAN runs ~2x and G ~3x faster on
        onnxruntime than on torch (benchmarks/results/edit_v2_cpu.md), so it is not split off."""
        import torch

        example = (torch.zeros(2, 3, model.config.img_size, model.config.img_size),
                   torch.zeros(2, model.config.style_dim))
        return GeneratorExport(lambda: model.generator, example, ("images", "styles"))

    def variants(self, request: StyleRequest) -> tuple[str, ...]:
        return request.variants

    def notes(self, config: ModelConfig, options: EditOptions) -> list[str]:
        """A domain given in another spelling is echoed in the model's."""
        if options.domain is None:
            return []
        try:
            name = config.domains[resolve_domain(config, options.domain)]
        except StarbatchError:
            return []
        return [f"{options.domain.strip()} means {name}"] if name != options.domain.strip() else []

    def describe(self, config: ModelConfig, networks: set[str]) -> list[tuple[str, str]]:
        masks = config.networks.uses_masks
        fan = "FAN inside" if "fan" in networks else "FAN missing (convert again with --wing)"
        return [
            ("domains", f"{config.num_domains}: {', '.join(config.domains)}"),
            ("generator", f"dim_in {config.dim_in}, max_conv_dim {config.max_conv_dim}, w_hpf {config.w_hpf:g}"),
            ("styles", f"style_dim {config.style_dim}, latent_dim {config.latent_dim} (--seed), "
                       + ("style encoder (--ref)" if "style_encoder" in networks else "no style encoder")),
            ("face masks", f"yes, {fan}" if masks else "no (w_hpf 0)"),
            ("framing", config.framing),
            ("step", str(config.step)),
        ]


STARGAN_V2 = StarGANv2()
