"""StarGAN v1 as a model family: its configuration, networks, official import and conditioning.

What reads the file's header (configuration, request, notes, description) imports no torch; the
networks, the official import and the conditioning are imported where they are used, so a usage
error answers before torch loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starbatch.models.family import EditOptions, Family, GeneratorExport, LoadedModel
from starbatch.models.model_file import prefixed
from starbatch.models.stargan_v1.config import ARCHITECTURE, ModelConfig, config_from_dict
from starbatch.models.stargan_v1.labels import respelled
from starbatch.models.stargan_v1.request import LabelRequest, label_request

if TYPE_CHECKING:
    import torch

    from starbatch.models.stargan_v1.conditioning import LabelConditioning


class StarGANv1(Family):
    architecture = ARCHITECTURE
    takes = ("to", "expression", "source_labels")

    def config_from_json(self, path: Path, data: dict) -> ModelConfig:
        return config_from_dict(path, data)

    def load(self, path: Path, config: ModelConfig, tensors: dict[str, torch.Tensor],
             device: str | torch.device = "cpu") -> LoadedModel:  # fmt: skip
        """G, and D when the file carries it (for estimating source labels), in eval mode."""
        from starbatch.models.stargan_v1.networks import load_strict

        generator = config.new_generator()
        load_strict(path, generator, prefixed(tensors, "generator."), "generator")
        networks = {"generator": generator.to(device).eval()}
        d_state = prefixed(tensors, "discriminator.")
        if d_state:
            discriminator = config.new_discriminator()
            load_strict(path, discriminator, d_state, "discriminator")
            networks["discriminator"] = discriminator.to(device).eval()
        return LoadedModel(path, config, self, networks)

    def import_official(self, generator: Path, dataset: str, attributes: list[str] | None = None,
                        discriminator: Path | None = None, image_size: int | None = None):  # fmt: skip
        from starbatch.models.stargan_v1 import official

        config, g_state, d_state = official.import_official(generator, dataset, attributes, discriminator, image_size)
        return config, {"generator": g_state, "discriminator": d_state}

    def request(self, path: Path, config: ModelConfig, networks: set[str], options: EditOptions) -> LabelRequest:
        return label_request(Path(path), config, networks, options)

    def conditioning(self, model: LoadedModel, request: LabelRequest) -> LabelConditioning:
        from starbatch.models.stargan_v1.conditioning import LabelConditioning

        return LabelConditioning(model, request)

    def generator_export(self, model: LoadedModel) -> GeneratorExport:
        """G(x, c), the target labels an input: a joint model's passes (CelebA, RaFD) share one graph."""
        import torch

        from starbatch.models.stargan_v1.networks import OfficialGraph

        size, c_dim = model.config.image_size, model.generator.c_dim
        example = (torch.zeros(2, 3, size, size), torch.zeros(2, c_dim))
        return GeneratorExport(lambda: OfficialGraph(model.generator), example, ("images", "labels"), version=2)

    def notes(self, config: ModelConfig, options: EditOptions) -> list[str]:
        """Names are matched ignoring case; one given in another spelling is echoed in the model's."""
        found = respelled(config.labels, options.to, options.expression, options.source_labels)
        return [f"{given} means {label}" for given, label in found]

    def describe(self, config: ModelConfig, networks: set[str]) -> list[tuple[str, str]]:
        has_d = "discriminator" in networks
        lines = [
            ("generator", f"conv_dim {config.g_conv_dim}, {config.g_repeat_num} residual blocks"),
            ("classifier", "yes (estimates source labels)" if has_d else "no (edit needs --from)"),
            ("step", str(config.step)),
            ("framing", config.framing),
            ("labels", f"{config.labels.dim} values" + (", with mask vector" if config.labels.mask else "")),
        ]
        for label_set in config.labels.sets:
            kind = "pick one" if label_set.kind == "onehot" else "yes/no each"
            lines.append(("", f"{label_set.name} ({kind}): {', '.join(label_set.labels)}"))
        return lines


STARGAN_V1 = StarGANv1()
