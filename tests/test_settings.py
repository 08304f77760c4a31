"""Every setting of every registered generator: its flag, its range and its refusal in one line, and the
typed config a checkpoint saves and rebuilds (training/settings.py)."""
from __future__ import annotations

import dataclasses

import pytest

from training.models import GENERATORS
from training.settings import SettingError, TrainConfig, flag
from training.train import main, parse_args, settings

SETTINGS = [(model, f) for model, module in sorted(GENERATORS.items()) for f in dataclasses.fields(module.Config)]


def bad_values(f: dataclasses.Field) -> list[str]:
    """-1 is outside every rule; a float setting must refuse NaN and infinity as well."""
    return ["-1"] + (["nan", "inf"] if isinstance(f.default, float) else [])


@pytest.mark.parametrize("model, field", SETTINGS, ids=[f"{m}-{f.name}" for m, f in SETTINGS])
def test_every_setting_refuses_out_of_range_values_in_one_line(model, field, tmp_path, capsys):
    """Refused before any data is read or folder made (the data folder here is empty), naming the flag and
    its range: a check missing for any setting of any model fails here."""
    for bad in bad_values(field):
        code = main(["--model", model, flag(field.name), bad, "--data-dir", str(tmp_path), "--device", "cpu",
                     "--run-dir", str(tmp_path / "run")])
        value = type(field.default)(bad)
        want = f"error: {flag(field.name)} must be {field.metadata['rule'].words}, got {value}\n"
        assert (code, capsys.readouterr().err) == (2, want)
        assert not (tmp_path / "run").exists()


def test_every_setting_has_a_flag_and_accepts_its_default():
    """Each field is a flag of python -m training, and the defaults pass their own checks."""
    for module in GENERATORS.values():
        for f in dataclasses.fields(module.Config):
            assert getattr(parse_args([flag(f.name), str(f.default)]), f.name) == f.default
        module.Config()


def test_another_models_setting_is_refused(tmp_path):
    """--classify is the CGAN's: given to the CVAE it would be silently ignored, so it is refused."""
    with pytest.raises(SettingError, match="^--classify is not a setting of the cvae$"):
        settings(parse_args(["--model", "cvae", "--classify", "0.5"]), None, tmp_path)


def test_a_checkpoint_from_before_a_setting_rebuilds_as_it_was_trained():
    """LEGACY fills what an older run did not record with what it was trained under, not today's defaults."""
    for module in GENERATORS.values():
        config = module.Config
        assert set(config.LEGACY) <= {f.name for f in dataclasses.fields(config)}
        old = config.from_saved({"model": "x", "latent_dim": 3, "width": 4, "data_dir": "ignored"})
        assert (old.latent_dim, old.width) == (3, 4)
        for name, value in config.LEGACY.items():
            assert getattr(old, name) == value


def test_the_typed_settings_round_trip_through_a_checkpoints_plain_values():
    for module in GENERATORS.values():
        config = module.Config(epochs=3, seed=5)
        assert module.Config.from_saved(dataclasses.asdict(config)) == config
        assert isinstance(config, TrainConfig)
