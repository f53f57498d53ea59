"""`study status NAME`: per-trial state and per-stage progress, from the study record in the
storage and MLflow (runs with their status and last logged `epoch`, at the record's tracking
URI unless another is given). It does not import Ray: Tune's experiment state adds nothing
MLflow does not have, and loading it cost a second. On a database store it reads MLflow's
tables with SQL and does not import MLflow either (importing it and opening its store took
~3 s of a 10⁴-trial study's 5 s). Read-only: it never creates a database, a folder or a
file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from study import contract as c
from study.orchestration.record import stored_study
from study.orchestration.storage import Storage
from study.store import open_store, sqlite_path
from study.store.access import check_usable, redacted

LISTED = 200  # runs listed one per line


@dataclass(frozen=True)
class Status:
    """A study's progress: where it lives, its parent run's status, trials per stage and
    status (`table`: stage, expected, finished, running, killed, errored, pending, and the
    hardware its trials ran on) and its trial runs."""

    name: str
    storage: str
    tracking_uri: str
    parent_status: str
    table: list[dict[str, Any]]
    runs: list[Any]

    @property
    def complete(self) -> bool:
        return all(row["finished"] == row["expected"] for row in self.table)


def read_status(name: str, storage: Storage, tracking_uri: str | None) -> Status:
    """`tracking_uri`: None = the one recorded when the study started."""
    record = stored_study(storage, name)
    uri = tracking_uri or record.tracking_uri
    runs: list[Any] = []
    parent_status = "not tracked"
    db = sqlite_path(uri)
    exp = None
    if db is not None and not db.is_file():  # opening it would create an empty database
        parent_status = f"not tracked (no tracking DB at {db})"
    else:
        check_usable(uri, reading=False)
        store = open_store(uri)
        exp = store.find_experiment(name)
    if exp is not None:
        parent = store.find_parent(exp, name, record.spec_hash)
        if parent is not None:
            parent_status = parent.info.status
            # what the table shows: the stage tag and the last epoch
            only = {"tags": [c.STAGE_TAG, c.HARDWARE_TAG], "metrics": ["epoch"]}
            runs = store.read_trials(exp, name, parent.info.run_id, params=False, only=only)
    table = []
    for stage, n in record.expected.items():
        mine = [r for r in runs if c.stage_of(r) == stage]
        counts = Counter(r.info.status for r in mine)
        kinds = sorted({r.data.tags.get(c.HARDWARE_TAG) or "" for r in mine} - {""})
        table.append({"stage": stage, "expected": n, "finished": counts["FINISHED"],
                      "running": counts["RUNNING"], "killed": counts["KILLED"],
                      "errored": counts["FAILED"], "pending": max(0, n - sum(counts.values())),
                      "hardware": "; ".join(kinds)})  # fmt: skip
    return Status(name, storage.uri(name), uri, parent_status, table, runs)


def study_status(name: str, storage: Storage, tracking_uri: str | None) -> str:
    """`study status`'s text: the table per stage, then the runs that need a look first."""
    s = read_status(name, storage, tracking_uri)
    lines = [
        f"Study {name!r} (storage {s.storage}, tracking {redacted(s.tracking_uri)}); "
        f"parent run: {s.parent_status}"
    ]
    lines.append(f"{'stage':10s} {'expected':>8s} {'finished':>8s} {'running':>8s} "
                 f"{'killed':>7s} {'errored':>7s} {'pending':>7s}")  # fmt: skip
    for row in s.table:
        lines.append(
            f"{row['stage']:10s} {row['expected']:8d} {row['finished']:8d} {row['running']:8d} "
            f"{row['killed']:7d} {row['errored']:7d} {row['pending']:7d}"
        )
    lines += [f"{row['stage']:10s} ran on {row['hardware']}" for row in s.table if row["hardware"]]
    lines.append("")
    lines += _run_lines(s.runs)
    verdict = (
        "complete"
        if s.complete
        else f"NOT complete: resume with `study resume {name}` (or run the same YAML again)"
    )
    lines.append(f"\nStudy {name!r} is {verdict}.")
    return "\n".join(lines)


def _run_lines(runs: list[Any]) -> list[str]:
    """One line per run, those that need a look first, at most `LISTED` however large the
    study (a 10⁴-trial study's status is read in a terminal)."""
    order = sorted(
        runs, key=lambda r: (r.info.status == "FINISHED", c.stage_of(r), r.info.run_name or "")
    )
    lines = []
    for run in order[:LISTED]:
        epoch = run.data.metrics.get("epoch")
        epochs = f"epoch {int(epoch)}" if epoch is not None else "no epoch yet"
        lines.append(
            f"  {c.stage_of(run):9s} {run.info.status:9s} {epochs:12s} {run.info.run_name}"
        )
    rest = order[LISTED:]
    if rest:
        finished = sum(r.info.status == "FINISHED" for r in rest)
        lines.append(f"  ... {len(rest)} more runs ({finished} FINISHED) not listed")
    return lines
