"""`study trial`: one trial in this process, without Ray or MLflow (a test on a laptop, a
smoke run on a GPU node), with a progress bar (tqdm) and an optional checkpoint folder to
resume from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from study import contract as c
from study.errors import ConfigError, UserError
from study.training.config import TrialConfig


def load_trial_config(path: Path, overrides: Mapping[str, Any]) -> TrialConfig:
    """A trial config YAML, or a study YAML whose `base` is used (after its `extends`); paths
    made absolute."""
    from study.orchestration.spec.load import read_yaml  # `extends` resolved as for a study

    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    raw = read_yaml(path) or {}
    if isinstance(raw, dict) and "base" in raw:
        raw = raw["base"]
    try:
        cfg = TrialConfig.from_dict(raw).with_overrides(overrides)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return cfg.with_absolute_paths()


def run_local(cfg: TrialConfig, checkpoint_dir: str | None) -> dict[str, float]:
    """Train `cfg` here; with `checkpoint_dir`, save every epoch there (atomically) and resume
    from what is there. Returns the last epoch's metrics."""
    from tqdm import tqdm

    from study.training.data import preflight
    from study.training.states import load_checkpoint, save_checkpoint
    from study.training.trial import run_trial

    preflight(cfg)
    ckpt_path = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
    state = load_checkpoint(str(ckpt_path)) if ckpt_path and ckpt_path.is_file() else None
    start = int(state["epoch"]) if state else 0
    bar = tqdm(total=cfg.schedule.epochs, initial=start, unit="epoch", desc=cfg.loss.name)

    def report(
        metrics: dict[str, float], trial_state: dict[str, Any], artifacts: dict[str, bytes]
    ) -> None:
        if ckpt_path is not None:
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
            for name, data in artifacts.items():
                (ckpt_path.parent / name).write_bytes(data)
            tmp = ckpt_path.with_suffix(".tmp")
            save_checkpoint(trial_state, str(tmp))
            os.replace(tmp, ckpt_path)  # atomic: a crash never leaves half a checkpoint
        bar.set_postfix(loss=f"{metrics[c.TRAIN_LOSS]:.3f}", top1=f"{metrics[c.TEST_TOP1]:.2f}")
        bar.update(1)

    metrics = run_trial(cfg, report, state)
    bar.close()
    return metrics
