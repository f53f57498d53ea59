"""The second paper's protocol as registry entries: EMNIST-Letters (official IDX files, written
fake), optimisers, schedules (SpinalNet's random restart), augmentation and normalisation
options, and the rule that only a study that says so may select on the test set."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from study.errors import ConfigError, UserError
from study.orchestration.spec import load_spec, spec_from_dict
from study.training.config import OptimConfig, ScheduleConfig, TrialConfig
from study.training.data import load_dataset
from study.training.optim import (
    OPTIMIZERS,
    SCHEDULES,
    RandomRestart,
    create_optimizer,
    create_schedule,
)
from study.training.trial import run_trial
from tests.training.test_trial import Recorder

SPACES = Path(__file__).parents[2] / "search_spaces"


def _emnist(root: Path, **sections: Any) -> TrialConfig:
    raw: dict[str, Any] = {
        "data": {"name": "emnist_letters", "root": str(root), "crop_padding": 0, "flip": False,
                 "rotation": 10.0, "perspective": 0.5, "norm_mean": 0.1307, "norm_std": 0.3081,
                 "val_fraction": 0.2},
        "model": {"name": "vgg5", "width": 4},
        "optim": {"name": "adam", "lr": 0.005, "weight_decay": 0.0},
        "schedule": {"name": "spinal_restart", "epochs": 3, "batch_size": 52},
        "eval": {"batch_size": 200, "final_window": 1, "train_every": 1},
        "device": "cpu",
    }  # fmt: skip
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return TrialConfig.from_dict(raw)


def test_emnist_letters_labels_26_or_62(fake_emnist_root: Path) -> None:
    data = load_dataset(_emnist(fake_emnist_root).data)
    assert data.num_classes == 26 and data.class_names[0] == "a"
    assert data.train.images.shape[1:] == (1, 28, 28) and data.train.images.dtype == torch.uint8
    assert set(data.test.labels.tolist()) == set(range(26))  # 1..26 in the files, shifted
    wide = load_dataset(_emnist(fake_emnist_root, data={"outputs": 62}).data)
    assert wide.num_classes == 62 and set(wide.test.labels.tolist()) == set(range(1, 27))
    assert wide.class_names[:2] == ("N/A", "a")


def test_missing_emnist_files_are_a_clear_error(tmp_path: Path) -> None:
    from study.training.data.emnist import ensure_emnist

    with pytest.raises(UserError, match=re.escape("emnist_letters not found")):
        ensure_emnist(_emnist(tmp_path).data)


def test_optimisers_and_schedules_by_registry() -> None:
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd"]
    assert SCHEDULES.names() == ["cosine", "spinal_restart", "step"]
    params = [torch.nn.Parameter(torch.zeros(2))]
    kinds = {n: type(create_optimizer(params, OptimConfig(name=n))) for n in OPTIMIZERS.names()}
    assert kinds == {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                     "sgd": torch.optim.SGD}  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape("optim.name: unknown optimizer 'lion'")):
        create_optimizer(params, OptimConfig(name="lion"))


def _lrs(schedule: str, accuracies: list[float], **cfg: Any) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = create_schedule(opt, ScheduleConfig(name=schedule, **cfg), seed=3)
    out = []
    for acc in accuracies:
        opt.step()
        sched.step(acc)
        out.append(opt.param_groups[0]["lr"])
    return out


def test_step_and_cosine_schedules_by_hand() -> None:
    assert _lrs("step", [0] * 4, epochs=4, step_size=2, gamma=0.1) == pytest.approx(
        [0.1, 0.01, 0.01, 0.001]
    )
    cosine = _lrs("cosine", [0] * 4, epochs=4)
    expected = [0.1 * (1 + math.cos(math.pi * k / 4)) / 2 for k in (1, 2, 3, 4)]
    assert cosine == pytest.approx(expected)


def test_spinal_restart_rule_and_its_resumed_draws() -> None:
    """lr stays while accuracy improves; after an epoch that does not improve it is
    lr₀·U³, U from the schedule's own seeded generator, which the checkpoint carries."""
    lrs = _lrs("spinal_restart", [50.0, 60.0, 55.0, 70.0, 70.0])
    u = torch.Generator().manual_seed(3)
    draws = [float(torch.rand((), generator=u)) ** 3 * 0.1 for _ in range(2)]
    assert lrs == pytest.approx([0.1, 0.1, draws[0], draws[0], draws[1]])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    first = RandomRestart(opt, seed=3)
    first.step(50.0)
    first.step(40.0)
    state = first.state_dict()
    again = RandomRestart(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), 0)
    again.load_state_dict(state)
    first.step(30.0)
    again.step(30.0)
    assert again.optimizer.param_groups[0]["lr"] == first.optimizer.param_groups[0]["lr"]


def test_protocol_trial_trains_and_resumes_bit_identically(fake_emnist_root: Path) -> None:
    """VGG-5, Adam, the restart schedule reading the validation split, rotation + perspective
    and Normalize(mean, std): a trial interrupted after epoch 2 and resumed from its state
    ends with exactly the metrics of an uninterrupted one."""
    cfg = _emnist(fake_emnist_root)
    full = Recorder()
    final = run_trial(cfg, full)
    assert final["final_best_test_top1_error"] == min(m["test_top1_error"] for m in full.metrics)
    crashed = Recorder(crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_trial(cfg, crashed)
    resumed = Recorder()
    run_trial(cfg, resumed, crashed.states[-1])
    assert resumed.metrics[-1] == full.metrics[-1]


def test_resized_digits_and_config_rules(fake_emnist_root: Path) -> None:
    digits = load_dataset(TrialConfig.from_dict({"data": {"name": "digits", "size": 16}}).data)
    assert digits.train.images.shape[1:] == (1, 16, 16)
    with pytest.raises(ConfigError, match=re.escape("schedule.reads")):  # no holdout to read
        _emnist(fake_emnist_root, data={"val_fraction": 0.0})
    with pytest.raises(ConfigError, match=re.escape("data.outputs")):
        TrialConfig.from_dict({"data": {"name": "digits", "outputs": 10}})
    with pytest.raises(ConfigError, match=re.escape("data.outputs")):
        _emnist(fake_emnist_root, data={"outputs": 62}, noise={"kind": "symmetric", "rate": 0.2})


def test_only_a_study_that_says_so_selects_on_the_test_set() -> None:
    raw = {"name": "t", "base": {"data": {"name": "digits", "val_fraction": 0.1},
                                 "schedule": {"name": "spinal_restart", "reads": "test"}},
           "grid": {"seed": [0, 1]}}  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape("schedule.reads: invalid value 'test'")):
        spec_from_dict(raw)
    with pytest.raises(ConfigError, match=re.escape("metric: invalid value 'final_best_test")):
        spec_from_dict({**raw, "base": {"data": {"name": "digits"}},
                        "analysis": {"metric": "final_best_test_top1_error"}})  # fmt: skip
    spec = spec_from_dict({**raw, "analysis": {"selects_on_test": True}})
    assert spec.analysis.selects_on_test


def test_protocol_files_plan_and_differ_only_where_fair() -> None:
    published = load_spec(SPACES / "emnist_letters.yaml")
    fair = load_spec(SPACES / "emnist_letters_fair.yaml")
    assert published.analysis.selects_on_test and not fair.analysis.selects_on_test
    p, f = published.base, fair.base
    assert (p.model.name, p.optim.name, p.optim.lr, p.schedule.epochs) == ("vgg5", "adam", 0.005,
                                                                           200)  # fmt: skip
    assert (p.schedule.reads, f.schedule.reads, p.data.outputs, f.data.outputs) == (
        "test",
        "val",
        62,
        26,
    )
    assert len(published.grid_points()) == 15 and fair.analysis.metric.startswith("final_paper")
