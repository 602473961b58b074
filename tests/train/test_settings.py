"""`starbatch train`'s options come from the settings dataclass: one declaration for both."""

from dataclasses import fields

from starbatch.train.settings import TrainSettings, option_parameters, settings_from_options


def test_every_settings_field_with_help_is_an_option_with_its_default():
    options = {p.name: p for p in option_parameters()}
    with_help = [f for f in fields(TrainSettings) if "help" in f.metadata]
    assert list(options) == [f.name for f in with_help]
    defaults = TrainSettings(out="run")
    for name in ("dataset", "image_size", "iters", "g_lr", "lambda_id", "precision", "checkpoint_every"):
        assert options[name].default == getattr(defaults, name)
    assert options["attributes"].default == ",".join(defaults.attributes)
    assert "beta1" not in options and "samples" not in options  # fixed by the paper, not options


def test_option_values_become_settings_of_the_fields_types(tmp_path):
    settings = settings_from_options({"out": tmp_path / "run", "celeba_dir": tmp_path, "rafd_dir": None,
                                      "attributes": "Male, Young,", "iters": 7})
    assert settings.out == str(tmp_path / "run") and settings.celeba_dir == str(tmp_path)
    assert settings.rafd_dir is None and settings.attributes == ["Male", "Young"] and settings.iters == 7
