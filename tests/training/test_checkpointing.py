"""The checkpoint policy: when a trial saves its state."""

from __future__ import annotations

from study.orchestration.spec import spec_from_dict
from study.training.checkpointing import AUTO_FACTOR, CheckpointPolicy


def test_every_n_epochs_and_always_the_last() -> None:
    policy = CheckpointPolicy(every_epochs=3, every_seconds=None)
    due = [e for e in range(1, 11) if policy.due(e, 10, since_save_s=0.0, last_cost_s=1.0)]
    assert due == [3, 6, 9, 10]


def test_every_t_seconds() -> None:
    policy = CheckpointPolicy(every_epochs=None, every_seconds=30.0)
    assert not policy.due(1, 10, since_save_s=29.9, last_cost_s=0.0)
    assert policy.due(1, 10, since_save_s=30.0, last_cost_s=0.0)


def test_auto_bounds_the_cost_at_five_percent() -> None:
    policy = CheckpointPolicy()  # the default: every_seconds auto
    assert policy.due(1, 200, since_save_s=5.0, last_cost_s=0.0)  # the first save: at once
    # a 1-second save waits 19 s: 1 / (19 + 1) = 5 % of the time
    assert not policy.due(7, 200, since_save_s=18.9, last_cost_s=1.0)
    assert policy.due(8, 200, since_save_s=AUTO_FACTOR * 1.0, last_cost_s=1.0)
    cost = 1.0 / (AUTO_FACTOR * 1.0 + 1.0)
    assert abs(cost - 0.05) < 1e-12


def test_the_section_is_part_of_the_spec() -> None:
    raw = {"name": "c", "grid": {"seed": [0]}, "checkpoint": {"every_epochs": 5}}
    spec = spec_from_dict(raw)
    assert spec.checkpoint == CheckpointPolicy(every_epochs=5, every_seconds="auto")
    assert spec.to_dict()["checkpoint"] == {"every_epochs": 5, "every_seconds": "auto"}
    assert spec_from_dict({**raw, "checkpoint": {}}).spec_hash() != spec.spec_hash()
