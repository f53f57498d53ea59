"""A study as stages of Ray Tune experiments: each stage kind is one module registered in
`STAGES` (`study.orchestration.stages.base` says what a stage is).

* `main` (`grid`): a plain grid study, one experiment at `<storage>/<name>`.
* `tune` (`search`): one Optuna search per grid cell, same budget per cell, on the validation
  holdout, at `<storage>/<name>/tune-<cell>`.
* `evaluate`: re-trains each cell's best configuration with fresh seeds, FIFO and full
  budget, at `<storage>/<name>/evaluate`: only this stage is compared.
* `looks` (`sequential`): seeds added per cell, look after look, until each cell is decided.
"""

from study.orchestration.stages import evaluate, grid, looks, search
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
    "expected_trials", "grid", "looks", "search", "study_stages", "trial_label",
]  # fmt: skip
