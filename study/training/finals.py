"""A trial's final metrics, from its per-epoch history: those of a trial that trained to the
end (`final_metrics`), and those of one whose training diverged (`diverged_metrics`)."""

from __future__ import annotations

from collections.abc import Mapping

from study import contract
from study.training.data import Dataset, Split
from study.training.metrics import chance_metrics


def final_metrics(
    history: Mapping[str, list[float]], window: int, data: Dataset
) -> dict[str, float]:
    """`final_<m>` = last epoch's value; `final_paper_top{1,5}_error` = test error averaged over
    the last `window` epochs (the paper: epochs 190–200 of 200, window 11)."""
    last = {k: v[-1] for k, v in history.items() if k not in contract.STEP_KEYS}
    out = {contract.FINAL_PREFIX + k: v for k, v in last.items()}
    for k in (1, 5):
        series = history[f"test_top{k}_error"][-window:]
        out[contract.paper_error(k)] = sum(series) / len(series)
    # the best epoch's test error: model selection on the test set, as some papers report it
    out[contract.BEST_TEST_TOP1] = min(history[contract.TEST_TOP1])
    out[contract.NOISE_REALIZED_RATE] = data.noise_realized_rate
    out[contract.DIVERGED] = 0.0
    return out


def diverged_metrics(
    history: Mapping[str, list[float]],
    epoch: int,
    last: int,
    lr: float,
    train_loss: float,
    data: Dataset,
    splits: Mapping[str, Split],
) -> dict[str, float]:
    """The last report of a trial whose training loss became non-finite at `epoch`: a result,
    not a failure (retrying would diverge again, deterministically, and dropping the trial
    would flatter the unstable loss). Every evaluated split and every final metric scores
    chance level (`metrics.chance_metrics`: a uniform predictor over the data set's classes),
    reported as epoch `last` so that the trial ends FINISHED; `final_diverged` = 1 and
    `final_diverged_epoch` = `epoch`. The best-epoch error keeps the epochs trained before:
    it is model selection on the test set, which would have picked one of them."""
    chance = chance_metrics(data.num_classes)
    metrics = {"epoch": float(last), "lr": lr, contract.TRAIN_LOSS: train_loss}
    metrics.update({f"{name}_{k}": v for name in splits for k, v in chance.items()})
    metrics.update({contract.FINAL_PREFIX + k: v for k, v in metrics.items()
                    if k not in contract.STEP_KEYS})  # fmt: skip
    for k in (1, 5):
        metrics[contract.paper_error(k)] = chance[f"top{k}_error"]
    metrics[contract.BEST_TEST_TOP1] = min([*history.get(contract.TEST_TOP1, []),
                                            chance["top1_error"]])  # fmt: skip
    metrics[contract.NOISE_REALIZED_RATE] = data.noise_realized_rate
    metrics[contract.DIVERGED] = 1.0
    metrics[contract.DIVERGED_EPOCH] = float(epoch)
    return metrics
