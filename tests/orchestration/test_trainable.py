"""The trainable (`study.orchestration.trainable`): its state keeping with a fake `report`,
and a grid point's round trip through Tune's presets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from study.orchestration.storage import Storage
from tests.orchestration.conftest import Clock as _Clock


def test_state_keeper_saves_when_the_policy_says_and_keeps_only_reports_at_the_end(
    tmp_path: Path,
) -> None:
    from study.orchestration.reports import HARDWARE_KEY, NODE_KEY
    from study.orchestration.trainable import StateKeeper
    from study.training.checkpointing import CheckpointPolicy
    from study.training.states import checkpoint_from_bytes

    sent: list[dict[str, Any]] = []
    states, clock = Storage.of(tmp_path), _Clock()
    env = {"hardware": "cpu A", "torch": "2.14.1"}
    keeper = StateKeeper(sent.append, "n1", [], states, "t.pt", CheckpointPolicy(2, None), 3,
                         clock, environment=env)  # fmt: skip
    keeper({"epoch": 1.0}, {"model": 1}, {"a.txt": b"x"})
    assert not states.exists("t.pt")  # every 2 epochs
    assert sent[0][NODE_KEY] == "n1" and sent[0]["artifact:a.txt"] == "eA=="
    # the node's environment, with the first report of this process only
    assert sent[0][HARDWARE_KEY] == "cpu A"
    assert json.loads(base64.b64decode(sent[0]["artifact:environment.json"])) == env
    keeper({"epoch": 2.0}, {"model": 2}, {})
    assert HARDWARE_KEY not in sent[1] and "artifact:environment.json" not in sent[1]
    saved = checkpoint_from_bytes(states.read_bytes("t.pt"))
    assert saved["model"] == 2 and [r["epoch"] for r in saved["reports"]] == [1.0, 2.0]
    keeper({"epoch": 3.0}, {"model": 3}, {})
    saved = checkpoint_from_bytes(states.read_bytes("t.pt"))
    assert saved["finished"] and "model" not in saved and len(saved["reports"]) == 3


def test_a_grid_point_reaches_tune_as_one_preset_and_comes_back_whole() -> None:
    """A grid's points are Tune presets (one JSON value each, not a `grid_search` that Tune
    would copy whole per trial); the trial's overrides are the point again, plus any
    suggestion a searcher adds; an experiment stored with a dict point still reads."""
    from study.orchestration.spec.translate import build_grid
    from study.orchestration.trainable import trial_overrides

    points = ({"loss": {"name": "lace"}, "seed": 3, "optim.lr": 0.05}, {"seed": 4})
    generator = build_grid(points, max_concurrent=2)
    presets = list(generator._points_to_evaluate)
    assert [trial_overrides(p) for p in presets] == list(points)
    assert trial_overrides({**presets[0], "optim.wd": 0.1})["optim.wd"] == 0.1
    assert trial_overrides({"overrides": {"seed": 5}}) == {"seed": 5}
    assert generator.max_concurrent == 2
