"""`study bench faults` at 1,000 trials: the driver SIGKILLed at half-way, `study resume`
completes the study with every trial once and every epoch once; and the checks it makes
find a duplicated run, a missing epoch and a trial logged twice (planted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study import contract as c
from study.tools.bench_faults import NAME, bench_faults, check_complete


def test_a_killed_driver_of_1000_trials_is_resumed_to_completion() -> None:
    lines = bench_faults(1000, epochs=2, baseline=False)
    assert any(line.startswith("driver SIGKILLed after") for line in lines)
    assert lines[-1].startswith("checks: 1000 trial runs, 1000 FINISHED, 1000 distinct")


def _trial(client: MlflowClient, exp: str, trial: str, steps: list[int]) -> None:
    run = client.create_run(exp, tags={c.ROLE_TAG: "trial", c.TRIAL_ID_TAG: trial}).info.run_id
    for i, step in enumerate(steps):  # a step sent twice: a second point (another value)
        client.log_metric(run, c.TRAIN_LOSS, float(i), timestamp=step, step=step)
    client.set_terminated(run, "FINISHED")


@pytest.mark.parametrize(
    ("trials", "said"),
    [
        ({"a": [1, 2], "b": [1, 2]}, ""),
        ({"a": [1, 2], "b": [1]}, "1 runs without every epoch exactly once"),
        ({"a": [1, 2], "b": [1, 1, 2]}, "1 runs without every epoch exactly once"),
        ({"a": [1, 2], "b": [1, 2], "b2": [1, 2]}, "3 trial runs, expected 2"),
    ],
)
def test_the_checks_find_what_a_faulted_study_could_leave(
    tmp_path: Path, trials: dict[str, list[int]], said: str
) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = MlflowClient(uri)
    exp = client.create_experiment(NAME)
    for trial, steps in trials.items():
        _trial(client, exp, trial.rstrip("2") if trial == "b2" else trial, steps)
    if not said:
        assert check_complete(uri, 2, 2)[0].startswith("checks: 2 trial runs, 2 FINISHED")
    else:
        with pytest.raises(RuntimeError, match=said):
            check_complete(uri, 2, 2)
