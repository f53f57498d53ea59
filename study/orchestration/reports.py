"""A trial's report to the driver, encoded by the trainable (`study.orchestration.trainable`)
and decoded by the tracking callback (`study.orchestration.callback`) in this one module:

* the epoch's metrics (the keys of `study.contract`);
* its files as `artifact:<name>` → base64 (workers never reach the tracking store: the driver
  logs a file together with its epoch);
* `lossbench_node_id`: the node it ran on;
* `lossbench_backlog`: on a resumed trial's first report, every report it sent before (JSON),
  so that the driver logs the epochs its run lacks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from study import contract as c

BACKLOG_KEY = "lossbench_backlog"
ARTIFACT_PREFIX = "artifact:"
NODE_KEY = "lossbench_node_id"


def epoch_report(metrics: Mapping[str, float], files: Mapping[str, bytes]) -> dict[str, Any]:
    """One epoch's report: its metrics and files (the part a trial keeps and re-sends)."""
    return {**metrics, **{ARTIFACT_PREFIX + k: base64.b64encode(v).decode()
                          for k, v in files.items()}}  # fmt: skip


def sent_from(report: Mapping[str, Any], node: str, backlog: list[Any] | None = None) -> dict:
    """What goes to Tune: the report, where it ran, and the reports re-sent before it."""
    extra = {BACKLOG_KEY: json.dumps(backlog)} if backlog is not None else {}
    return {**report, NODE_KEY: node, **extra}


def metric_items(result: Mapping[str, Any]) -> dict[str, float]:
    """Our metrics from a Tune result (Ray adds many bookkeeping keys of its own)."""
    return {k: float(v) for k, v in result.items()
            if c.is_tracked_metric(k) and isinstance(v, int | float)}  # fmt: skip


class Received(NamedTuple):
    epochs: list[tuple[int, dict[str, float], int]]  # step, metrics, arrival (ms)
    files: list[tuple[int, str, bytes]]  # step, name, data
    node: str


def received(result: dict[str, Any], arrived_ms: int) -> Received:
    """A Tune result decoded: its epochs (the backlog's, then its own), their files and its
    node. The files and the backlog leave `result` (Tune keeps every trial's last result for
    the whole study, and lets a callback change it in place)."""
    epochs = [*json.loads(result.get(BACKLOG_KEY, "[]")), result]
    logged = [(int(e.get("epoch", 0)), metric_items(e), arrived_ms) for e in epochs]
    files = [
        (int(e.get("epoch", 0)), k[len(ARTIFACT_PREFIX) :], base64.b64decode(v))
        for e in epochs
        for k, v in e.items()
        if k.startswith(ARTIFACT_PREFIX)
    ]
    for key in [k for k in result if k.startswith(ARTIFACT_PREFIX) or k == BACKLOG_KEY]:
        del result[key]
    node = result.get(NODE_KEY)
    return Received(logged, files, str(node) if node else "")
