"""A study as stages of Ray Tune experiments: each stage kind is one module registered in
`STAGES` (`study.orchestration.stages.base` says what a stage is).

Each stage runs under its module's name, and its class is that name's `<Name>Stage`:

* `main`: a plain grid study, one experiment at `<storage>/<name>`.
* `tune`: one Optuna search per grid point (every axis but the seed), same budget per point,
  on the validation holdout, at `<storage>/<name>/tune-<point>`.
* `evaluate`: re-trains each grid point's best configuration with fresh seeds, FIFO and full
  budget, at `<storage>/<name>/evaluate`: only this stage is compared.
* `looks` (a sequential study): seeds added per comparison, look after look, until each is
  decided.
"""

from study.orchestration.stages import evaluate, looks, main, tune
from study.orchestration.stages.base import (
    STAGES,
    Cost,
    Stage,
    StageContext,
    TrialResult,
    TuneExperiment,
    expected_trials,
    study_stages,
    trial_label,
)

__all__ = [
    "STAGES", "Cost", "Stage", "StageContext", "TrialResult", "TuneExperiment", "evaluate",
    "expected_trials", "looks", "main", "study_stages", "trial_label", "tune",
]  # fmt: skip
