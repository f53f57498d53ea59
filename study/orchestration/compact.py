"""Bounding what the driver keeps of each ended trial (a Ray Tune `Callback`).

Tune holds every trial of an experiment until the fit returns, and for each numeric key of
its results a running summary: min, max, mean, last, and the windows behind its last-5 and
last-10 means (`_TrainingRunMetadata.metric_analysis` and `.metric_n_steps`, Ray 2.60). With
the 28 numeric keys of a lossbench result, Tune's metadata of a finished trial is 80.6 KB
with them and 2.7 KB without (`benchmarks/tune_trial_memory.py`, `tracemalloc`), and nothing
reads them: the stages read each trial's last result, and no best-trial query of Tune's is
made. Once a trial has ended, its summaries are dropped and its last result stays.
"""

from __future__ import annotations

from typing import Any

from study.orchestration.tune_callback import TuneCallback


class CompactEndedTrials(TuneCallback):
    """Drops an ended trial's per-metric summaries at the next step of Tune's loop (after
    the searcher and the scheduler have seen its last result)."""

    def __init__(self) -> None:
        self._ended: list[Any] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"_ended": []}

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._ended.append(trial)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        while self._ended:
            compact(self._ended.pop())


def compact(trial: Any) -> None:
    """Drop the trial's per-metric summaries (its last result stays)."""
    meta = trial.run_metadata
    meta.metric_analysis = {}
    meta.metric_n_steps = {}
