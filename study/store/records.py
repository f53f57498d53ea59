"""What the store reads and writes, as plain values: a run as MLflow's `search_runs` gives it
(`RunRecord`: `.info`, `.data`), a new trial run (`NewRun`), and runs as a DataFrame
(`runs_frame`). Standard library only (pandas when a frame is asked for)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

Epochs = list[tuple[int, dict[str, float], int]]  # step, metrics, time (ms)
Params = dict[str, Any]


class Refused(RuntimeError):
    """MLflow's rule that a deleted run or experiment takes no writes: raised, with MLflow's
    own message, by every store's writes (MLflow's client raises it as an `MlflowException`;
    the SQL writer checks it itself), so that a study stops instead of writing past it."""

    INACTIVE = "must be in the 'active' state"  # MLflow's message (`_check_run_is_active`)


def now_ms() -> int:
    """MLflow's time stamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


class RunInfo(NamedTuple):
    run_id: str
    run_name: str
    status: str
    artifact_uri: str
    start_time: int | None


class RunData(NamedTuple):
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]


class RunRecord(NamedTuple):
    info: RunInfo
    data: RunData


def record_of(run: Any) -> RunRecord:
    """An MLflow `Run` (or a `RunRecord`) as a `RunRecord`."""
    i, d = run.info, run.data
    return RunRecord(
        RunInfo(str(i.run_id), i.run_name or "", str(i.status), str(i.artifact_uri),
                i.start_time),
        RunData(dict(d.params), dict(d.tags), dict(d.metrics)),
    )  # fmt: skip


@dataclass(frozen=True)
class NewRun:
    """What a trial's run is created with: its name, its tags (all of them, the schema of
    `study.contract`), the params of its first write, and its files (name → bytes)."""

    name: str
    tags: dict[str, str]
    params: Params = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


INFO_COLUMNS = list(RunInfo._fields)


def runs_frame(runs: Iterable[RunRecord]) -> pd.DataFrame:
    """One row per run: `RunInfo`'s columns, then `params.<key>`, `tags.<key>` and
    `metrics.<key>` (the columns of `mlflow.search_runs`)."""
    import pandas as pd

    rows = [
        {**r.info._asdict(), **{f"params.{k}": v for k, v in r.data.params.items()},
         **{f"tags.{k}": v for k, v in r.data.tags.items()},
         **{f"metrics.{k}": v for k, v in r.data.metrics.items()}}
        for r in runs
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=None if rows else INFO_COLUMNS)
