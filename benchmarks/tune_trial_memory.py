"""What Ray Tune keeps per finished trial of a lossbench study, with and without its
per-metric summaries (`study.orchestration.compact`): Tune's `_TrainingRunMetadata` fed one
real trial's last result (its ~28 numeric keys, plus the keys Ray adds) for N trials, its
JSON state cached as Tune caches it, measured with `tracemalloc`.

    .venv/bin/python benchmarks/tune_trial_memory.py [--trials 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray.tune.trainable.metadata import _TrainingRunMetadata
from ray.tune.utils import flatten_dict

from study.tools.bench_scheduling import _spec
from study.tools.bench_tracking import _reports

RAY_KEYS = {"timestamp": 0.0, "done": True, "training_iteration": 1, "trial_id": "abc_00001",
            "date": "2026-12-01_22-00-00", "time_this_iter_s": 0.1, "time_total_s": 0.1,
            "pid": 1234, "hostname": "host", "node_ip": "127.0.0.1", "time_since_restore": 0.1,
            "iterations_since_restore": 1, "experiment_tag": "1_loss=ce,seed=0"}  # fmt: skip


def kb_per_trial(result: dict[str, Any], n: int, compact: bool) -> float:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = []
    for _ in range(n):
        meta = _TrainingRunMetadata()
        meta.last_result = dict(result)
        for key, value in flatten_dict(result).items():
            if isinstance(value, int | float):
                meta.update_metric(key, value, 1)
        if compact:
            meta.metric_analysis, meta.metric_n_steps = {}, {}
        meta.get_json_state()
        kept.append(meta)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(s.size_diff for s in after.compare_to(before, "filename")) / n / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    n = parser.parse_args().trials
    last = _reports(_spec(2, 1))[-1]
    result = {k: v for k, v in last.items() if not k.startswith("artifact:")}
    result |= RAY_KEYS | {"timestamp": time.time()}
    numeric = sum(isinstance(v, int | float) for v in result.values())
    print(f"# Tune's metadata per finished trial, {n} trials, {numeric} numeric result keys")
    print(f"with its per-metric summaries: {kb_per_trial(result, n, False):.1f} KB")
    print(f"without them (CompactEndedTrials): {kb_per_trial(result, n, True):.1f} KB")


if __name__ == "__main__":
    main()
