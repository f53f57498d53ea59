from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from study.training.config import TrialConfig
from study.training.states import load_checkpoint, save_checkpoint
from study.training.trial import run_trial
from tests.conftest import tiny_dict


class Recorder:
    def __init__(self, crash_after: int | None = None) -> None:
        self.metrics: list[dict[str, float]] = []
        self.states: list[dict[str, Any]] = []
        self.artifacts: dict[str, bytes] = {}
        self.crash_after = crash_after

    def __call__(
        self, metrics: dict[str, float], state: dict[str, Any], artifacts: dict[str, bytes]
    ) -> None:
        self.metrics.append(dict(metrics))
        self.states.append(state)
        self.artifacts.update(artifacts)
        if self.crash_after is not None and len(self.metrics) == self.crash_after:
            raise KeyboardInterrupt("simulated crash")


def test_reports_every_epoch_and_final_metrics(tiny_cfg: TrialConfig) -> None:
    rec = Recorder()
    final = run_trial(tiny_cfg.with_overrides({"data.val_fraction": 0.2}), rec)
    assert [m["epoch"] for m in rec.metrics] == [1.0, 2.0]
    for key in ("train_loss", "test_top1_error", "test_top5_error", "test_nll", "val_top1_error"):
        assert key in rec.metrics[0]
    assert rec.metrics[0]["lr"] == 0.1 and rec.metrics[1]["lr"] == pytest.approx(0.01)
    window = [m["test_top5_error"] for m in rec.metrics]
    assert final["final_paper_top5_error"] == pytest.approx(sum(window) / 2)
    assert final["final_test_top1_error"] == rec.metrics[-1]["test_top1_error"]
    assert "final_val_top1_error" in final


def test_final_window_uses_only_the_last_epochs(fake_cifar_root: Path) -> None:
    cfg = TrialConfig.from_dict(
        tiny_dict(fake_cifar_root, schedule={"epochs": 3}, eval={"final_window": 2})
    )
    rec = Recorder()
    final = run_trial(cfg, rec)
    last_two = [m["test_top5_error"] for m in rec.metrics[1:]]
    assert final["final_paper_top5_error"] == pytest.approx(sum(last_two) / 2)


def test_resume_from_checkpoint_gives_identical_metrics(
    fake_cifar_root: Path, tmp_path: Path
) -> None:
    cfg = TrialConfig.from_dict(tiny_dict(fake_cifar_root, schedule={"epochs": 3}))
    full = Recorder()
    run_trial(cfg, full)

    crashed = Recorder(crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_trial(cfg, crashed)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(crashed.states[-1], str(path))  # through the file format, weights_only
    resumed = Recorder()
    run_trial(cfg, resumed, load_checkpoint(str(path)))
    assert [m["epoch"] for m in resumed.metrics] == [3.0]
    assert resumed.metrics[-1] == full.metrics[-1]  # bit-identical, finals included


def test_checkpoint_of_another_config_is_refused(tiny_cfg: TrialConfig) -> None:
    rec = Recorder()
    run_trial(tiny_cfg, rec)
    with pytest.raises(ValueError, match="does not belong"):
        run_trial(tiny_cfg.with_overrides({"seed": 9}), Recorder(), rec.states[0])


def test_same_seed_same_metrics_in_two_processes(fake_cifar_root: Path, tmp_path: Path) -> None:
    config = tmp_path / "trial.yaml"
    config.write_text(yaml.safe_dump(tiny_dict(fake_cifar_root, loss={"name": "lace"})))
    outputs = []
    for i in range(2):
        out = tmp_path / f"m{i}.json"
        subprocess.run(
            [sys.executable, "-m", "study", "trial", str(config), "--out", str(out)],
            check=True,
            capture_output=True,
        )
        outputs.append(json.loads(out.read_text()))
    assert outputs[0] == outputs[1]
    assert outputs[0]["final_paper_top5_error"] >= 0


def test_seeds_differ(tiny_cfg: TrialConfig) -> None:
    a, b = Recorder(), Recorder()
    run_trial(tiny_cfg, a)
    run_trial(tiny_cfg.with_overrides({"seed": 1}), b)
    assert a.metrics[-1]["train_loss"] != b.metrics[-1]["train_loss"]


def test_noisy_trial_reports_mask_memorisation_and_clean_validation(
    fake_cifar_root: Path,
) -> None:
    import io

    import numpy as np

    cfg = TrialConfig.from_dict(
        tiny_dict(
            fake_cifar_root,
            noise={"kind": "symmetric", "rate": 0.4, "seed": 3},
            data={"val_fraction": 0.2},
            eval={"train_every": 1},
        )
    )
    rec = Recorder()
    final = run_trial(cfg, rec)
    mask = np.load(io.BytesIO(rec.artifacts["noise_mask.npz"]))["flipped"]
    assert mask.shape == (1000,) and mask.mean() == 0.4  # full training split, exact
    assert 0.3 < final["noise_realized_rate"] < 0.5  # on the 800 kept for training
    for m in rec.metrics:
        assert {"train_clean_acc", "train_noisy_memorized", "train_noisy_corrected"} <= set(m)
    assert "final_train_noisy_memorized" in final


def test_memorisation_every_n_epochs_and_last(fake_cifar_root: Path) -> None:
    cfg = TrialConfig.from_dict(
        tiny_dict(fake_cifar_root, schedule={"epochs": 3}, eval={"train_every": 2})
    )
    rec = Recorder()
    run_trial(cfg, rec)
    assert ["train_clean_acc" in m for m in rec.metrics] == [False, True, True]
    assert "noise_mask.npz" not in rec.artifacts  # no noise, no mask


def test_adversarial_errors_at_the_end(fake_cifar_root: Path) -> None:
    cfg = TrialConfig.from_dict(
        tiny_dict(fake_cifar_root, eval={"adversarial": True, "adv_images": 50})
    )
    rec = Recorder()
    final = run_trial(cfg, rec)
    assert 0 <= final["final_fgsm_top1_error"] <= 100
    assert 0 <= final["final_pgd_top1_error"] <= 100
    assert "final_fgsm_top1_error" not in rec.metrics[0]


def test_study_trial_needs_no_ray_mlflow_or_optuna(tmp_path: Path, fake_cifar_root: Path) -> None:
    """A GPU box may have only PyTorch and the scientific stack: `study trial` must not import
    the cluster, tracking or search libraries."""
    cfg = tmp_path / "trial.yaml"
    raw = tiny_dict(fake_cifar_root, schedule={"epochs": 1}, eval={"final_window": 1})
    cfg.write_text(yaml.safe_dump(raw))
    code = (
        "import sys; from study.tools.cli import main; "
        f"rc = main(['trial', {str(cfg)!r}, '--out', {str(tmp_path / 'm.json')!r}]); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'mlflow', 'optuna'}); "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stdout and (tmp_path / "m.json").is_file()


def test_a_diverged_trial_is_a_result_at_chance_level(fake_cifar_root: Path) -> None:
    """A non-finite training loss ends the trial at once with one last report: every test
    metric at what a uniform predictor over the 100 classes scores, flagged `final_diverged`,
    reported as the last epoch (so the trial finishes and is never retried)."""
    cfg = TrialConfig.from_dict(
        tiny_dict(fake_cifar_root, schedule={"epochs": 4}, optim={"lr": 1.0e12})
    )
    rec = Recorder()
    final = run_trial(cfg, rec)
    assert len(rec.metrics) == 1 and final == rec.metrics[0]
    assert final["epoch"] == 4.0 and final["final_diverged"] == 1.0
    assert final["final_diverged_epoch"] == 1.0
    assert final["final_paper_top1_error"] == pytest.approx(99.0)
    assert final["final_paper_top5_error"] == pytest.approx(95.0)
    assert final["test_nll"] == pytest.approx(math.log(100))
    assert final["final_test_top1_error"] == pytest.approx(99.0)
    assert rec.states[0]["epoch"] == 4  # a resumed trial finds nothing left to train
    assert run_trial(cfg, Recorder(), rec.states[0]) == {}
    healthy = run_trial(cfg.with_overrides({"optim.lr": 0.1, "schedule.epochs": 2}), Recorder())
    assert healthy["final_diverged"] == 0.0
