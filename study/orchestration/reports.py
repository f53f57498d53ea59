"""A trial's report to the driver, encoded by the trainable (`study.orchestration.trainable`)
and decoded by the tracking callback (`study.orchestration.callback`) in this one module:

* the epoch's metrics (the keys of `study.contract`);
* its files as `artifact:<name>` → base64 (workers never reach the tracking store: the driver
  logs a file together with its epoch);
* `lossbench_node_id`: the node it ran on, and `lossbench_hardware` its hardware label; the
  first report of a trial's process also carries the node's environment as a file
  (`contract.ENVIRONMENT_FILE`, `study.training.provenance`);
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
HARDWARE_KEY = "lossbench_hardware"


def epoch_report(metrics: Mapping[str, float], files: Mapping[str, bytes]) -> dict[str, Any]:
    """One epoch's report: its metrics and files (the part a trial keeps and re-sends)."""
    return {**metrics, **{ARTIFACT_PREFIX + k: base64.b64encode(v).decode()
                          for k, v in files.items()}}  # fmt: skip


def sent_from(
    report: Mapping[str, Any], node: str, backlog: list[Any] | None = None,
    environment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What goes to Tune: the report, where it ran (and on what), the reports re-sent before
    it, and the node's environment as a file."""
    extra: dict[str, Any] = {BACKLOG_KEY: json.dumps(backlog)} if backlog is not None else {}
    if environment is not None:
        data = json.dumps(dict(environment), indent=2, sort_keys=True).encode()
        extra |= {
            HARDWARE_KEY: environment.get(c.HARDWARE_TAG, ""),
            ARTIFACT_PREFIX + c.ENVIRONMENT_FILE: base64.b64encode(data).decode(),
        }
    return {**report, NODE_KEY: node, **extra}


def metric_items(result: Mapping[str, Any]) -> dict[str, float]:
    """Our metrics from a Tune result (Ray adds many bookkeeping keys of its own)."""
    return {k: float(v) for k, v in result.items()
            if c.is_tracked_metric(k) and isinstance(v, int | float)}  # fmt: skip


class Received(NamedTuple):
    epochs: list[tuple[int, dict[str, float], int]]  # step, metrics, arrival (ms)
    files: list[tuple[int, str, bytes]]  # step, name, data
    node: str
    hardware: str  # "" unless this report says


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
    return Received(logged, files, str(node) if node else "", str(result.get(HARDWARE_KEY, "")))
