"""Ray Tune's `OptunaSearch`, timed: it measures what each suggestion costs the driver and says
so when its search ends (`tune [loss=lace]: 16 suggestions, 3.1 ms each, tpe`). TPE's cost
grows with the trials it has seen (Optuna documents it for up to ~1,000 trials per study, GP-based
samplers for a few hundred), and the search runs on the driver, between every two trials.
Imports Ray at module level: `study.orchestration.spec.translate` imports it only to build a
search."""

from __future__ import annotations

import time
from typing import Any

from ray.tune.search.optuna import OptunaSearch


class TimedOptunaSearch(OptunaSearch):
    def __init__(self, *args: Any, label: str = "", samples: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label, self.samples = label, samples
        self.spent, self.made, self.done = 0.0, 0, 0

    def suggest(self, trial_id: str) -> Any:
        start = time.perf_counter()
        out = super().suggest(trial_id)
        if isinstance(out, dict):
            self.spent += time.perf_counter() - start
            self.made += 1
        return out

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        super().on_trial_complete(trial_id, result, error)
        self.done += 1
        if self.done == self.samples and self.made:
            each = 1000 * self.spent / self.made
            print(f"[{time.strftime('%H:%M:%S')}] {self.label}: {self.made} suggestions, "
                  f"{each:.1f} ms each", flush=True)  # fmt: skip
