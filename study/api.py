"""lossbench from Python (a notebook, a script): the functions the `study` command calls,
re-exported from `study`. Each returns what it found instead of printing only; the console
lines of a running study are the command's.

    import study

    outcome = study.run("search_spaces/quickstart.yaml")   # or a YAML string, or a dict
    study.status("quickstart")                              # a DataFrame, one row per stage
    runs = study.load("quickstart")                         # runs.trials, runs.epochs
    study.compare("quickstart")                             # the comparison table
    study.report("quickstart", out="reports/quickstart", latex=True)

Where a study lives: `storage` (default `runs`, a folder or `s3://...`) holds its record,
which names its tracking URI; `tracking_uri` overrides it (default, for a study without a
record: `sqlite:///$PWD/mlflow.db`). Errors a user can cause raise `study.errors.UserError`
(or `ConfigError`) with the message the command prints. docs/api.md is the quickstart.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from study.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from analysis.load import StudyRuns
    from analysis.report import Report
    from study.orchestration.runner import StudyOutcome
    from study.orchestration.spec import StudySpec

__all__ = ["compare", "load", "report", "resume", "run", "status"]


def _spec(spec: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None) -> StudySpec:
    """A spec from a YAML file's path, a YAML string or a dict."""
    import yaml

    from study.orchestration.spec import load_spec, spec_from_dict

    if isinstance(spec, Mapping):
        return spec_from_dict(spec, overrides)
    if isinstance(spec, Path) or ("\n" not in spec and spec.endswith((".yaml", ".yml"))):
        return load_spec(spec, overrides)
    try:
        raw = yaml.safe_load(spec)
    except yaml.YAMLError as exc:
        raise UserError(f"spec: not a YAML file's path nor valid YAML ({exc})") from exc
    return spec_from_dict(raw, overrides, source="<yaml string>")


def _uri(name: str, storage: str | None, tracking_uri: str | None) -> str:
    """`tracking_uri` made absolute, else the study record's in `storage` (None: none
    consulted), else `./mlflow.db`."""
    from study.orchestration.record import has_record, stored_study
    from study.orchestration.storage import Storage
    from study.store import resolve_tracking_uri

    if tracking_uri is None and storage is not None:
        where = Storage.of(storage)
        stored = stored_study(where, name).tracking_uri if has_record(where, name) else None
        if stored:
            return stored
    return resolve_tracking_uri(tracking_uri)


def _readable(name: str, storage: str | None, tracking_uri: str | None) -> str:
    """`_uri`, checked: one line when it cannot be read (`store.access.check_usable`)."""
    from study.store.access import check_usable

    uri = _uri(name, storage, tracking_uri)
    check_usable(uri)
    return uri


def run(
    spec: str | Path | Mapping[str, Any], *, storage: str = "runs",
    tracking_uri: str | None = None, overrides: Mapping[str, Any] | None = None,
    address: str | None = None, verbose: bool = False,
) -> StudyOutcome:  # fmt: skip
    """Run a study (or resume it, when its record exists) and return its outcome: trials
    finished and errored per stage, `complete`, the experiment and parent run ids.

    >>> outcome = run({"name": "tiny", "base": {"data": {"name": "digits"}},
    ...                "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1]}})
    >>> outcome.complete  # doctest: +SKIP
    True
    """
    from study.orchestration.storage import Storage
    from study.tools.launch import launch

    parsed = _spec(spec, overrides)
    uri = _uri(parsed.name, storage, tracking_uri)
    return launch(parsed, Storage.of(storage), uri, address, verbose)


def resume(
    name: str, *, storage: str = "runs", tracking_uri: str | None = None,
    address: str | None = None, verbose: bool = False,
) -> StudyOutcome:  # fmt: skip
    """Finish an interrupted study from its record: `resume("quickstart")`."""
    from study.orchestration.record import load_record
    from study.orchestration.storage import Storage
    from study.tools.launch import launch

    where = Storage.of(storage)
    record = load_record(where, name)
    return launch(record.spec, where, _uri(name, storage, tracking_uri), address, verbose)


def status(name: str, *, storage: str = "runs", tracking_uri: str | None = None) -> pd.DataFrame:
    """Trials per stage: expected, finished, running, killed, errored, pending.

    >>> status("quickstart")  # doctest: +SKIP
      stage  expected  finished  running  killed  errored  pending
    0  main         6         6        0       0        0        0
    """
    import pandas as pd

    from study.orchestration.storage import Storage
    from study.store import resolve_tracking_uri
    from study.tools.status import read_status

    given = resolve_tracking_uri(tracking_uri) if tracking_uri else None
    return pd.DataFrame(read_status(name, Storage.of(storage), given).table)


def load(
    experiment: str, *, tracking_uri: str | None = None, storage: str | None = "runs",
    curves: set[str] | None = None,
) -> StudyRuns:  # fmt: skip
    """A study's runs: `.trials` (one row per trial: params, status, last metrics) and
    `.epochs` (one row per run, metric and epoch: `curves` of them, or every one), with its
    stored `.spec`, `.setting_keys` and a sequential study's `.decisions`.

    >>> runs = load("quickstart")  # doctest: +SKIP
    >>> runs.trials.groupby("loss_label")["final_paper_top1_error"].mean()  # doctest: +SKIP
    """
    from analysis.load import load_study

    return load_study(_readable(experiment, storage, tracking_uri), experiment, curves=curves)


def _report_config(options: Mapping[str, Any]) -> Any:
    from analysis.report import ReportConfig

    known = ReportConfig.__dataclass_fields__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise UserError(f"unknown report option(s) {', '.join(unknown)} (known: "
                        f"{', '.join(sorted(known))})")  # fmt: skip
    alpha = options.get("alpha", 0.05)
    if not 0 < alpha < 1:
        raise UserError(f"alpha: invalid value {alpha} (allowed: in (0, 1))")
    if isinstance(options.get("primary"), list):
        options = {**options, "primary": tuple(options["primary"])}
    return ReportConfig(**options)


def compare(
    experiment: str, *, tracking_uri: str | None = None, storage: str | None = "runs",
    **options: Any,
) -> pd.DataFrame:  # fmt: skip
    """The comparison table: one row per candidate × setting, with the gain, its simultaneous
    interval, the verdict, the family and every other column of `comparisons.csv`.
    `options`: those of `analysis.report.ReportConfig` (metric, reference, alpha,
    min_effect, family_method, primary...).

    >>> table = compare("quickstart")  # doctest: +SKIP
    >>> table[["candidate", "gain", "ci_low", "ci_high", "verdict"]]  # doctest: +SKIP
    """
    from analysis.report import study_findings

    uri = _readable(experiment, storage, tracking_uri)
    found = _guarded(lambda: study_findings(uri, experiment, _report_config(options))[2])
    return found.comparisons


def report(
    experiment: str, *, tracking_uri: str | None = None, storage: str | None = "runs",
    out: str | Path | None = None, log: bool = True, **options: Any,
) -> Report:  # fmt: skip
    """Write the report (`out`, default `reports/<experiment>`) and log it on the study's
    parent run; returns its findings and the files written. `options`: as `compare`'s, and
    `latex=True` for `comparisons.tex`, `all_curves=True` for every curve in epochs.parquet.

    >>> report("quickstart", latex=True).files  # doctest: +SKIP
    """
    from analysis.report import build_report

    uri = _readable(experiment, storage, tracking_uri)
    cfg = _report_config(options)
    where = Path(out or Path("reports") / experiment).resolve()
    return _guarded(lambda: build_report(uri, experiment, where, cfg, log=log))


def _guarded(fn: Any) -> Any:
    """`fn()`, a missing study or metric as the one-line error a user gets."""
    try:
        return fn()
    except (LookupError, ValueError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from exc
