"""The console of a running study (`study.orchestration.progress`): its progress line and
heartbeat, on fake Tune trials and an injected clock."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from study import contract
from tests.orchestration.conftest import Clock as _Clock


def _trials(*status: str) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(trial_id=f"t{i}", status=s, config={"overrides": {"seed": i}},
                        last_result={"final_paper_top5_error": 5.0 + i})
        for i, s in enumerate(status)
    ]  # fmt: skip


def _label(trial: Any) -> str:
    return str(trial.trial_id)


def test_progress_lines_and_heartbeat() -> None:
    from study.orchestration.progress import HEARTBEAT_S, ProgressCallback

    out, clock = io.StringIO(), _Clock()
    cb = ProgressCallback("main", 4, contract.PAPER_TOP5, _label, out, clock)
    trials = _trials("RUNNING", "RUNNING", "PENDING", "PENDING")
    cb.on_step(0, trials)
    clock.now += HEARTBEAT_S - 1
    cb.on_step(1, trials)
    assert out.getvalue() == ""  # nothing finished, no heartbeat yet
    clock.now += 1
    cb.on_step(2, trials)
    assert out.getvalue().endswith("main 0/4 done (2 running), ETA ?\n")
    clock.now += 40  # 100 s after the start, the first trial ends: 3 left at that pace
    cb.on_trial_complete(3, trials, trials[0])
    assert (
        out.getvalue()
        .splitlines()[-1]
        .endswith("main 1/4 done (1 running), ETA 0:05:00 | t0: final_paper_top5_error 5")
    )
    trials[0].status = "TERMINATED"
    cb.on_trial_error(4, trials, trials[1])
    assert out.getvalue().splitlines()[-1].endswith("main 1/4 done (0 running, 1 failed), "
                                                    "ETA 0:05:00 | t1: FAILED")  # fmt: skip
    clock.now += 30
    cb.on_step(5, trials)
    assert len(out.getvalue().splitlines()) == 3  # a line was printed 30 s ago: no heartbeat


def test_a_restored_progress_callback_paces_this_session_only() -> None:
    import pickle

    from study.orchestration.progress import ProgressCallback

    clock = _Clock()
    cb = ProgressCallback("tune", 4, "val_top1_error", _label, None, clock)
    cb.on_step(0, _trials("TERMINATED", "RUNNING", "PENDING", "PENDING"))
    restored = pickle.loads(pickle.dumps(cb))
    restored.clock = clock
    restored.out = io.StringIO()
    trials = _trials("TERMINATED", "RUNNING", "PENDING", "PENDING")
    restored.on_step(1, trials)  # Tune steps before any trial of the new session ends
    clock.now += 50
    restored.on_trial_complete(2, trials, trials[1])
    # one trial finished in this session, in 50 s; the one from before does not count
    assert "tune 2/4 done (0 running), ETA 0:01:40" in restored.out.getvalue()
