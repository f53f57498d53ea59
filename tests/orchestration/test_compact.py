"""What the driver keeps of an ended trial (`study.orchestration.compact`), on a real Tune
`Trial`."""

from __future__ import annotations


def test_an_ended_trial_keeps_its_last_result_and_drops_its_metric_summaries() -> None:
    """On a real Tune `Trial` (Ray 2.60's fields: a Ray upgrade that renames them fails here)."""
    from ray.tune.experiment import Trial

    from study.orchestration.compact import CompactEndedTrials

    trial = Trial("fn", stub=True, config={"overrides": {"seed": 0}})
    for epoch in (1, 2):
        trial.update_last_result({"epoch": epoch, "train_loss": 1.0 / epoch,
                                  "training_iteration": epoch})  # fmt: skip
    assert trial.metric_analysis["train_loss"]["min"] == 0.5 and trial.metric_n_steps
    cb = CompactEndedTrials()
    cb.on_trial_complete(3, [trial], trial)
    assert trial.metric_analysis  # kept until the next step of Tune's loop
    cb.on_step_end(4, [trial])
    assert trial.metric_analysis == {} and trial.metric_n_steps == {}
    assert trial.last_result["train_loss"] == 0.5 and "epoch" in trial.last_result
    assert "_ended" in cb.__getstate__() and cb.__getstate__()["_ended"] == []
