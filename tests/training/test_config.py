from __future__ import annotations

import pytest

from study.errors import ConfigError
from study.training.config import TrialConfig


def test_defaults_are_the_papers_protocol() -> None:
    cfg = TrialConfig()
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == (0.1, 0.9, 5e-4)
    assert (cfg.schedule.epochs, cfg.schedule.batch_size) == (200, 100)
    assert (cfg.schedule.step_size, cfg.schedule.gamma) == (50, 0.1)
    assert (cfg.data.name, cfg.data.crop_padding, cfg.data.flip) == ("cifar100", 4, True)
    assert (cfg.model.name, cfg.model.width) == ("resnet18", 64)
    assert cfg.eval.final_window == 11


def test_round_trip_and_flat_keys() -> None:
    cfg = TrialConfig.from_dict({"loss": {"name": "lace"}, "optim": {"lr": 0.05}, "seed": 3})
    assert TrialConfig.from_dict(cfg.to_dict()) == cfg
    flat = cfg.to_flat_dict()
    assert flat["optim.lr"] == 0.05 and flat["loss.name"] == "lace" and flat["seed"] == 3


def test_overrides_by_dotted_key_and_section() -> None:
    cfg = TrialConfig().with_overrides({"optim.lr": 0.2, "loss": {"name": "lace"}})
    assert cfg.optim.lr == 0.2 and cfg.loss.name == "lace"
    assert cfg.config_hash() != TrialConfig().config_hash()


def test_yaml_style_exponent_string_is_a_float() -> None:
    assert TrialConfig.from_dict({"optim": {"weight_decay": "5e-4"}}).optim.weight_decay == 5e-4


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"optim": {"lrr": 0.1}}, "optim.lrr: unknown key"),
        ({"optim": {"lr": -0.1}}, "optim.lr: invalid value -0.1"),
        ({"optim": {"lr": "fast"}}, "optim.lr: invalid value 'fast'"),
        ({"schedule": {"epochs": 2.5}}, "schedule.epochs"),
        ({"loss": {"name": "nope"}}, "unknown loss 'nope'"),
        ({"loss": {"name": "ce", "gamma": 2}}, "loss.gamma: unknown parameter"),
        ({"data": {"name": "imagenet"}}, "unknown dataset 'imagenet'"),
        ({"noise": {"rate": 1.0}}, "noise.rate"),
        ({"noise": {"seed": "each"}}, "noise.seed: invalid value 'each'"),
        ({"noise": {"seed": -1}}, "noise.seed: invalid value -1"),
        ({"data": {"flip": "yes"}}, "data.flip"),
        ({"device": "tpu"}, "device"),
        ({"colour": 1}, "colour: unknown key"),
    ],
)
def test_bad_values_name_the_key(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        TrialConfig.from_dict(raw)


def test_override_of_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        TrialConfig().with_overrides({"optimizer.lr": 0.1})


def test_noise_seed_follows_the_trial_unless_fixed() -> None:
    default = TrialConfig.from_dict({"seed": 3})
    assert default.noise.seed == "trial" and default.noise_draw_seed == 3
    fixed = TrialConfig.from_dict({"seed": 3, "noise": {"seed": 7}})
    assert fixed.noise.seed == 7 and fixed.noise_draw_seed == 7
    assert default.noise.for_trial(3).seed == 3
