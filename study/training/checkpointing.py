"""When a trial saves its state: the study's `checkpoint` section (standard library only).

```yaml
checkpoint: {every_epochs: null, every_seconds: auto}   # the default
```

A trial saves after its last epoch always, and after epoch e when `every_epochs` divides e, or
when `every_seconds` have passed since the last save. `auto` bounds the cost instead: it saves
once the time since the last save reaches 19 × what that save took, so that saving is at most
1/20 = 5 % of the trial's time whatever the epoch length and the storage (a ~90 MB full-width
state to a local disk or to S3). Short epochs then save every few epochs, long ones every
epoch. A crash loses the epochs after the last save: they are trained again, identically, and
the driver logs each epoch once (`study.orchestration.callback`).
"""

from __future__ import annotations

from dataclasses import dataclass

from study.coerce import check

AUTO = "auto"
AUTO_FACTOR = 19.0  # save cost / (save cost + time between saves) ≤ 1 / (1 + 19) = 5 %


@dataclass(frozen=True)
class CheckpointPolicy:
    every_epochs: int | None = None
    every_seconds: float | str | None = AUTO

    def __post_init__(self) -> None:
        epochs, seconds = self.every_epochs, self.every_seconds
        check(epochs is None or epochs >= 1, "every_epochs", epochs, "null or >= 1")
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0
        check(seconds is None or seconds == AUTO or number, "every_seconds", seconds,
              "null, auto or > 0")  # fmt: skip

    def due(self, epoch: int, last_epoch: int, since_save_s: float, last_cost_s: float) -> bool:
        """Save after `epoch`? `since_save_s`: seconds since the last save ended (or the trial
        started); `last_cost_s`: what the last save took (0 before the first)."""
        if epoch >= last_epoch:
            return True
        if self.every_epochs is not None and epoch % self.every_epochs == 0:
            return True
        if self.every_seconds == AUTO:
            return since_save_s >= AUTO_FACTOR * last_cost_s
        if isinstance(self.every_seconds, int | float):
            return since_save_s >= self.every_seconds
        return False
