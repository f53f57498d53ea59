"""The contract between `study` (which writes MLflow runs) and `analysis` (which reads them).

Tag names, run roles, stage names, metric keys, the signal that a trial finished, the files
two layers share, and where runs live: names and pure functions, no I/O (`study.store` reads
and writes them). Standard library only, so that every layer imports it (as Ray Tune's
`ray.tune.result` names a result's keys). tests/test_layout.py fails on any of these strings
written elsewhere in `study/` or `analysis/`.

The schema in MLflow: one experiment per study; in it one *parent* run per study (tags
`lossbench.role=parent`, `study`, `spec_hash`, `git_sha`, `grid_axes`) and one *trial* run per
Ray trial (tags `lossbench.role=trial`, `study`, `mlflow.parentRunId`, `ray.trial_id`, `stage`,
`cell` (its grid point), `config_hash`, `noise_draw_seed` and the tags of `TRIAL_TAG_KEYS`),
with per-epoch metrics (`train_*`, `test_*`, `val_*`) and, in the last epoch only, the
`final_*` metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# --- tags -----------------------------------------------------------------------------------
ROLE_TAG = "lossbench.role"
STUDY_TAG = "study"
SPEC_HASH_TAG = "spec_hash"
GIT_SHA_TAG = "git_sha"
GRID_AXES_TAG = "grid_axes"  # JSON list of the study's grid axes (parent run)
SAMPLER_TAG = "sampler"  # JSON of an Optuna search's sampler settings (parent run)
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: nests a trial under its study in the UI
TRIAL_ID_TAG = "ray.trial_id"
STAGE_TAG = "stage"
GRID_POINT_TAG = "cell"  # the grid point a tune/evaluate trial serves ("" for the others)
TRIAL_LABEL_TAG = "trial_label"  # the trial's overrides in a few words
LOOK_TAG = "look"  # the look a sequential study's trial belongs to
NODE_TAG = "ray.node_id"  # the node a trial runs on now
NODE_HISTORY_TAG = "ray.node_history"  # every node it ran on, in order (retries move it)
EARLY_STOPPED_TAG = "early_stopped"  # "true" on a trial ASHA stopped before its last epoch
HARDWARE_TAG = "hardware"  # what a trial ran on (`study.training.provenance`); parent: all
DIVERGED_TAG = "diverged"  # "true" on a trial whose training loss became non-finite
CONFIG_HASH_TAG = "config_hash"
NOISE_DRAW_SEED_TAG = "noise_draw_seed"  # what `noise.seed: trial` resolved to
NOTE_TAG = "mlflow.note.content"  # the description the MLflow UI shows for a run/experiment
KIND_TAG = "mlflow.experimentKind"
# Tags every trial run carries, with the trial config key each comes from.
TRIAL_TAG_KEYS = {
    "loss": "loss.name",
    "seed": "seed",
    "lr": "optim.lr",
    "noise_kind": "noise.kind",
    "noise_rate": "noise.rate",
}

# --- roles ----------------------------------------------------------------------------------
PARENT_ROLE = "parent"
TRIAL_ROLE = "trial"

# --- stages (the names `study.orchestration.stages` registers) -------------------------------
MAIN_STAGE = "main"  # a plain grid study
TUNE_STAGE = "tune"  # an Optuna search per grid point, on the holdout: never compared
EVALUATE_STAGE = "evaluate"  # each grid point's best configuration, fresh seeds
LOOKS_STAGE = "looks"  # a sequential study's seeds, look after look
STAGE_NAMES = (MAIN_STAGE, TUNE_STAGE, EVALUATE_STAGE, LOOKS_STAGE)

# --- metrics --------------------------------------------------------------------------------
METRIC_PREFIXES = ("train_", "test_", "val_", "final_", "noise_")
STEP_KEYS = ("epoch", "lr")  # logged every epoch beside the prefixed metrics
TRAIN_LOSS = "train_loss"  # per epoch: the training loss (the step a run reached)
TEST_TOP1 = "test_top1_error"
TEST_NLL = "test_nll"
TEST_ECE = "test_ece"
VAL_TOP1 = "val_top1_error"
MEMORIZED = "train_noisy_memorized"  # share of flipped labels predicted as the noisy label
FINAL_PREFIX = "final_"  # the last epoch's value of a per-epoch metric (last report only)
PAPER_PREFIX = "final_paper_"  # test error averaged over the last `final_window` epochs
BEST_PREFIX = "final_best_"  # the best epoch's value: model selection on the test set
NOISE_REALIZED_RATE = "noise_realized_rate"  # one value per trial, not a curve
PAPER_TOP1 = PAPER_PREFIX + "top1_error"
PAPER_TOP5 = PAPER_PREFIX + "top5_error"
BEST_TEST_TOP1 = BEST_PREFIX + "test_top1_error"
# 1 when the training loss became non-finite (the trial then scores chance level), else 0;
# with the epoch it happened at. A diverged trial is a result: FINISHED, never retried.
DIVERGED = FINAL_PREFIX + "diverged"
DIVERGED_EPOCH = FINAL_PREFIX + "diverged_epoch"
DEFAULT_METRIC = PAPER_TOP5  # what a study compares unless its `analysis.metric` says otherwise
FINISHED_METRIC = PAPER_TOP5  # in a trial's last report only: its presence means "finished"


def paper_error(k: int) -> str:
    """`final_paper_top{k}_error`: the paper's figure, test top-k error over the last epochs."""
    return f"{PAPER_PREFIX}top{k}_error"


def loss_label(params: Mapping[str, Any]) -> str:
    """A candidate's name in every table: `focal(gamma=2.0)` from a trial's flat params
    `loss.name` and the other `loss.*` (sorted), `ce` alone."""
    name = str(params.get("loss.name", "?"))
    extra = sorted(
        (k[5:], v) for k, v in params.items() if k.startswith("loss.") and k != "loss.name"
    )
    return f"{name}({','.join(f'{k}={v}' for k, v in extra)})" if extra else name


def finished(metrics: Mapping[str, Any]) -> bool:
    """Whether a trial's report (or a run's metrics) is its last one."""
    return FINISHED_METRIC in metrics


def is_tracked_metric(key: str) -> bool:
    """Whether a key of a trial's report is one of our metrics (Ray adds many keys of its own)."""
    return key.startswith(METRIC_PREFIXES) or key in STEP_KEYS


def is_curve(key: str) -> bool:
    """Whether a metric is logged per epoch (a curve) rather than once per trial."""
    return not key.startswith(FINAL_PREFIX) and key != NOISE_REALIZED_RATE


def epoch_curve(metric: str) -> str:
    """The per-epoch metric behind a final metric: `final_paper_top5_error` →
    `test_top5_error`, `final_best_test_top1_error` → `test_top1_error`, `final_test_nll` →
    `test_nll`; a per-epoch name is returned as is."""
    if metric.startswith(PAPER_PREFIX):
        return "test_" + metric[len(PAPER_PREFIX) :]
    for prefix in (BEST_PREFIX, FINAL_PREFIX):
        if metric.startswith(prefix):
            return metric[len(prefix) :]
    return metric


def selects_on_test(metric: str) -> bool:
    """Whether a metric picks its epoch by the test set (`final_best_test_*`)."""
    return metric.startswith(BEST_PREFIX + "test")


def selects_on_val(metric: str) -> bool:
    """Whether a metric is read on the validation holdout (`val_*`, `final_val_*`)."""
    return metric.startswith(("val_", FINAL_PREFIX + "val_"))


# --- files: artifacts of MLflow runs and of the stored study record --------------------------
CONFIG_FILE = "trial_config.json"  # a trial run's config
SPEC_FILE = "study_spec.json"  # the parent run's copy of the stored study spec
ENVIRONMENT_FILE = "environment.json"  # a trial's node: hardware, versions, lock hash
RELIABILITY_FILE = "reliability_test.json"  # a trial's reliability bins (test set, last epoch)
DECISIONS_FOLDER = "decisions"  # the stages' decisions: in the record, and on the parent run
EXPECTED_KEY = "expected"  # the decision holding the trials per stage (`study status`)
LOOK_PREFIX = "look-"  # a sequential look's decision, `look-<n>`
REPORT_FOLDER = "report"  # the report's files on the parent run
REPORT_HTML = "report.html"
REPORT_MD = "report.md"
COMPARISONS_CSV = "comparisons.csv"
PARAM_CHARS = 6000  # MLflow keeps at most this much of a param value


def decision_text(value: Any) -> str:
    """A stored decision as JSON, the same bytes in the record and on the parent run."""
    import json

    return json.dumps(value, indent=2, sort_keys=True)


def look_key(n: int) -> str:
    """The decision (and the Tune experiment) of a sequential study's look `n`: `look-<n>`."""
    return f"{LOOK_PREFIX}{n}"


def look_number(key: str) -> int | None:
    """`n` of `look-<n>`; None for any other decision."""
    head, _, n = key.partition(LOOK_PREFIX)
    return int(n) if head == "" and n.isdigit() else None


# --- where runs live ------------------------------------------------------------------------
PAGE = 1000  # runs per `search_runs` call; every page is read, so nothing is ever cut off
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # stores MLflow keeps in SQL tables
# `study server`'s bulk reads on its database (study/tools/server_app.py): POST, JSON
SERVER_RUNS_PATH = "/ajax-api/2.0/lossbench/runs"
SERVER_HISTORIES_PATH = "/ajax-api/2.0/lossbench/histories"


def scheme(tracking_uri: str) -> str:
    """`postgresql` of `postgresql+psycopg://...`."""
    return tracking_uri.split(":", 1)[0].split("+", 1)[0]


def tags(run: Any) -> Mapping[str, str]:
    return run.data.tags


def stage_of(run: Any) -> str:
    """A trial run's stage (`main` when untagged: a plain grid study)."""
    return tags(run).get(STAGE_TAG) or MAIN_STAGE


def compared(stage: str) -> bool:
    """Whether a stage's trials enter the comparison (a search's trials saw the holdout)."""
    return stage != TUNE_STAGE
