"""The Ray Tune trainable: one trial = one call of `study.training.trial.run_trial` in a Tune
function trainable. Every epoch it reports its metrics, then saves its state in the study storage
when the checkpoint policy says so (`study.training.checkpointing`), so a crashed trial retries from
its last saved epoch. Files travel to the driver inside the results; MLflow is written only by the
driver (`study.orchestration.callback`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from study.orchestration.reports import epoch_report, sent_from
from study.orchestration.stages import trial_label
from study.orchestration.storage import Storage
from study.training.checkpointing import CheckpointPolicy
from study.training.config import TrialConfig
from study.training.provenance import environment
from study.training.states import checkpoint_bytes, checkpoint_from_bytes
from study.training.trial import run_trial

STATES_FOLDER = "trial_states"


def trial_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's overrides: the fixed grid point (a JSON string: `spec.translate.build_grid`) plus
    the searcher's suggestions."""
    point = config.get("overrides") or {}
    out = dict(json.loads(point) if isinstance(point, str) else point)
    out.update({k: v for k, v in config.items() if k != "overrides"})
    return out


def trial_name(trial: Any) -> str:
    return f"{trial_label_of(trial)}_{trial.trial_id}"


def trial_label_of(trial: Any) -> str:
    return trial_label(trial_overrides(trial.config))


def trainable(
    config: dict[str, Any],
    base: TrialConfig,
    states: Storage,
    policy: CheckpointPolicy,
    gpu_share: float = 0.0,
) -> None:
    """Tune function trainable: resume from the trial's own state file if any, report every
    epoch, then save the state (model, optimiser, RNG and every report sent so far) when the
    study's checkpoint policy says so (`study.training.checkpointing`).

    The state file `<states>/<trial id>.pt`, in the study's shared storage, is the one source
    of truth for resuming, and Tune keeps no checkpoint. Tune deletes an old checkpoint before
    its experiment snapshot names the new one, so a driver killed in between left a trial that
    pointed at a deleted checkpoint and could never resume; our file is replaced atomically
    and is always the last epoch saved. On resume, every report sent before is sent again in
    one result (the driver logs the epochs it lacks and skips the rest), so an epoch reported
    just before a crash is never lost; epochs after the state are trained again (identically).
    """
    import torch
    from ray import tune

    if 0 < gpu_share < 1 and torch.cuda.is_available():
        # Packed trials: Ray shares the device but does not police memory; cap this process's
        # caching allocator at its share so that one trial cannot starve the others.
        torch.cuda.set_per_process_memory_fraction(gpu_share)

    import ray

    cfg = base.with_overrides(trial_overrides(config))
    node_id = ray.get_runtime_context().get_node_id()
    state_file = f"{tune.get_context().get_trial_id()}.pt"
    state = (
        checkpoint_from_bytes(states.read_bytes(state_file)) if states.exists(state_file) else None
    )
    sent: list[dict[str, Any]] = list(state["reports"]) if state else []
    if sent:
        tune.report(sent_from(sent[-1], node_id, backlog=sent[:-1], environment=environment()))
    if state is not None and state.get("finished"):
        return  # the driver died after the last epoch was saved: nothing left to train

    last = cfg.schedule.epochs
    keeper = StateKeeper(tune.report, node_id, sent, states, state_file, policy, last,
                         environment=None if sent else environment())  # fmt: skip
    run_trial(cfg, keeper, state)


class StateKeeper:
    """The trial's `report`: sends each epoch's result (`send`: Tune's `report`), keeps every
    report sent, and saves the state file when the checkpoint policy says so (after the last
    epoch, the reports alone)."""

    def __init__(
        self, send: Callable[[dict[str, Any]], None], node_id: str, sent: list[dict[str, Any]],
        states: Storage, state_file: str, policy: CheckpointPolicy, last_epoch: int,
        clock: Callable[[], float] = time.monotonic,
        environment: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.send, self.node_id, self.sent = send, node_id, sent
        self.environment = environment  # sent with the first report, then not again
        self.states, self.state_file = states, state_file
        self.policy, self.last_epoch, self.clock = policy, last_epoch, clock
        self.saved_at, self.save_took = clock(), 0.0

    def __call__(
        self, metrics: dict[str, float], trial_state: dict[str, Any], artifacts: dict[str, bytes]
    ) -> None:
        # files travel inside the result (`reports`); the node is tagged on the run
        result = epoch_report(metrics, artifacts)
        self.send(sent_from(result, self.node_id, environment=self.environment))
        self.environment = None
        self.sent.append(result)
        epoch = int(metrics["epoch"])
        since = self.clock() - self.saved_at
        if not self.policy.due(epoch, self.last_epoch, since, self.save_took):
            return
        # Report, then save: a crash in between trains this epoch again and re-sends it.
        # After the last epoch only the reports are kept (no tensors: ~1 % of the size).
        start = self.clock()
        kept = (
            {"reports": self.sent, "finished": True}
            if epoch == self.last_epoch
            else {**trial_state, "reports": self.sent}
        )
        self.states.write_bytes(checkpoint_bytes(kept), self.state_file)
        self.saved_at = self.clock()
        self.save_took = self.saved_at - start
