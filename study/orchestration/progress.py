"""The compact console of `study run`: what a person watching (or a log file) needs, not Ray's
tables (standard library only; a Ray Tune `Callback` on the driver).

One line per finished or failed trial, each with the stage's progress — trials done, running,
failed, of how many — an ETA from this session's pace, and the trial's key metric; and, when
nothing finished for a while, a heartbeat line with the same counts. Plain lines, flushed at
once: they read the same in a terminal, under `nohup` and in CI. `study run --verbose` gives
Ray's own tables instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from study.orchestration.tune_callback import TuneCallback

HEARTBEAT_S = 60.0


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA ?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}"


def progress_line(
    stage: str, done: int, running: int, failed: int, expected: int, eta: float | None
) -> str:
    extra = f", {failed} failed" if failed else ""
    return f"{stage} {done}/{expected} done ({running} running{extra}), {format_eta(eta)}"


class ProgressCallback(TuneCallback):
    """Counts come from Tune's own trial list (so a resumed stage counts the trials finished
    before); the ETA from the trials finished in this session."""

    def __init__(
        self,
        stage: str,
        expected: int,
        metric: str,
        label: Callable[[Any], str],
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage
        self.expected = expected
        self.metric = metric
        self.label = label
        self.out = out
        self.clock = clock
        self._start = clock()
        self._done_at_start: int | None = None
        self._last_line = self._start

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["out"] = None  # a stream does not pickle (Tune snapshots its callbacks)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # `Tuner.restore` brings the callback back from the first session: start the pace anew
        self.__dict__.update(state)
        self._start = self._last_line = self.clock()
        self._done_at_start = None

    def _counts(
        self, trials: list[Any], ending: Any = None, as_status: str = ""
    ) -> tuple[int, int, int]:
        """(done, running, failed); `ending` counts as `as_status` (Tune calls back before it
        updates the trial's own status)."""
        status = [as_status if t is ending else t.status for t in trials]
        return status.count("TERMINATED"), status.count("RUNNING"), status.count("ERROR")

    def _eta(self, done: int) -> float | None:
        if self._done_at_start is None:
            return None
        finished_here = done - self._done_at_start
        remaining = self.expected - done
        if finished_here <= 0 or remaining < 0:
            return None
        return (self.clock() - self._start) / finished_here * remaining

    def _print(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.out or sys.stdout, flush=True)
        self._last_line = self.clock()

    def _line(self, trials: list[Any], ending: Any = None, as_status: str = "") -> str:
        done, running, failed = self._counts(trials, ending, as_status)
        if self._done_at_start is None:
            self._done_at_start = done
        return progress_line(self.stage, done, running, failed, self.expected, self._eta(done))

    def on_step(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self._done_at_start is None:
            self._done_at_start = self._counts(trials)[0]
        if self.clock() - self._last_line >= HEARTBEAT_S:
            self._print(self._line(trials))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        value = (trial.last_result or {}).get(self.metric)
        shown = f"{self.metric} {value:.4g}" if isinstance(value, int | float) else "no metric"
        self._print(f"{self._line(trials, trial, 'TERMINATED')} | {self.label(trial)}: {shown}")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._print(f"{self._line(trials, trial, 'ERROR')} | {self.label(trial)}: FAILED")
