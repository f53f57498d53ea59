"""Settling a study's runs in MLflow: count the child runs per stage, mark runs an interrupted
fit left RUNNING as KILLED, and at the end set the parent run's status and its description
(a results table per loss and setting, `summary_note`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from study import contract as c
from study.store import Store


def per_loss_and_setting(
    values: Iterable[tuple[str, float]],
) -> list[tuple[str, int, float, float]]:
    """(group, n, mean, sd) per group, in group order, from (group, value) pairs: what the console
    prints at the end of a study and the parent run's description shows (the report computes
    its own table from MLflow). sd is NaN for one value."""
    import statistics

    groups: dict[str, list[float]] = {}
    for group, value in values:
        groups.setdefault(group or "all", []).append(float(value))
    return [
        (group, len(v), statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else float("nan"))
        for group, v in sorted(groups.items())
    ]


@dataclass(frozen=True)
class Counts:
    finished: dict[str, int]
    errored: dict[str, int]


def settle(
    store: Store,
    experiment_id: str,
    study: str,
    expected: dict[str, int],
    parent_id: str,
    final: bool,
    summary: tuple[list[str], str] | None = None,
) -> Counts:
    """Count child runs per stage; runs left RUNNING (an interrupted fit) become KILLED, and at
    the end the parent becomes FINISHED, FAILED or KILLED, tagged with the hardware its
    trials ran on. `summary` (grid axes, metric): also
    write the results per loss and setting as the parent run's description."""
    finished: dict[str, int] = dict.fromkeys(expected, 0)
    errored: dict[str, int] = dict.fromkeys(expected, 0)
    runs = store.read_trials(experiment_id, study, parent_id)
    for run in runs:
        stage = c.stage_of(run)
        if run.info.status == "RUNNING":
            store.set_status(run.info.run_id, "KILLED")
        elif run.info.status == "FINISHED":
            finished[stage] = finished.get(stage, 0) + 1
        elif run.info.status == "FAILED":
            errored[stage] = errored.get(stage, 0) + 1
    if final:
        if all(finished.get(s, 0) == n for s, n in expected.items()):
            status = "FINISHED"
        elif any(errored.values()):
            status = "FAILED"
        else:
            status = "KILLED"
        kinds = sorted(
            {r.data.tags[c.HARDWARE_TAG] for r in runs if r.data.tags.get(c.HARDWARE_TAG)}
        )
        tags = {c.HARDWARE_TAG: "; ".join(kinds)} if kinds else {}  # every kind of node used
        if summary is not None:
            counts = {s: f"{finished.get(s, 0)}/{n} finished" for s, n in expected.items()}
            tags[c.NOTE_TAG] = summary_note(study, runs, summary[0], summary[1], counts)
        if tags:
            store.set_tags(parent_id, tags)
        store.set_status(parent_id, status)
    return Counts(finished, errored)


def summary_note(
    study: str, runs: list[Any], axes: list[str], metric: str, counts: Mapping[str, str]
) -> str:
    """Markdown for the parent run's description: trials per stage, then the mean ± std over
    seeds of `metric` per loss and setting (every grid axis but the seed) of the finished trials."""
    values = []
    for run in runs:
        value = run.data.metrics.get(metric)
        if run.info.status != "FINISHED" or value is None or not c.compared(c.stage_of(run)):
            continue
        params = run.data.params
        group = ", ".join(
            f"{k}={v}"
            for k, v in sorted(params.items())
            if any(k == a or k.startswith(a + ".") for a in axes if a != "seed")
        )
        values.append((group, float(value)))
    lines = [f"**Study `{study}`**: " + "; ".join(f"{s} {c}" for s, c in counts.items()), ""]
    if values:
        lines += [f"| loss and setting | n | {metric} (mean ± std) |", "|---|---|---|"]
        for group, n, mean, sd in per_loss_and_setting(values):
            lines.append(f"| {group} | {n} | {mean:.3f} ± {sd:.3f} |")
    lines += ["", "Statistics: `study report " + study + "`."]
    return "\n".join(lines)
