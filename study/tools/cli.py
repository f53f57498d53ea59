"""The `study` command: `run`, `resume`, `plan`, `status`, `trial`, `report`, `bench`, `ui`,
`server`: argument parsing over library calls (`study.tools.launch`, `study.tools.planning`,
`study.tools.status`, `study.tools.local_trial`; `report`, `bench`, `server`, `ui` in
`study.tools.cli_tools`).

Errors a user can cause end in one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from study import contract
from study.errors import UserError
from study.orchestration.signals import terminate_like_interrupt
from study.tools import cli_tools

# Library modules are imported inside each command: `study trial` must not pull in Ray or
# MLflow, and `study status` not torch.

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # a second Ctrl-C (or SIGTERM) during the shutdown of a study


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    terminate_like_interrupt()
    try:
        code: int = args.func(args)
    except UserError as exc:
        print(f"study: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("\nstudy: interrupted; what finished is kept (see `study status`)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="study", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _study_commands(sub)
    _report_command(sub)
    _tool_commands(sub)
    return parser


Subparsers = Any  # argparse's `_SubParsersAction`, private


def _command(
    sub: Subparsers, name: str, about: str, func: Any, arg: tuple[str, str]
) -> argparse.ArgumentParser:
    """A subcommand running `func`, with its one positional argument `arg` (name, help)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=about)
    parser.add_argument(arg[0], help=arg[1])
    parser.set_defaults(func=func)
    return parser


def _study_commands(sub: Subparsers) -> None:
    """run, resume, plan, status, trial."""
    name = ("name", "the study's name")
    run = _command(sub, "run", "run (or resume) a study from a search-space YAML", _cmd_run,
                   ("space", "study YAML, e.g. search_spaces/quickstart.yaml"))  # fmt: skip
    _add_location(run, address=True)
    _add_set(run)
    resume = _command(sub, "resume", "finish an interrupted study from its storage",
                      _cmd_resume, name)  # fmt: skip
    _add_location(resume, address=True)
    plan = _command(sub, "plan", "stages, trials and estimated cost, without running",
                    _cmd_plan, ("space", "study YAML"))  # fmt: skip
    plan.add_argument("--images-per-second", type=float, help="measured throughput per trial")
    _add_set(plan)
    status = _command(sub, "status", "per-trial state and per-stage progress of a study",
                      _cmd_status, name)  # fmt: skip
    _add_location(status, address=False)
    trial = _command(
        sub,
        "trial",
        "one trial in-process (no Ray), progress per epoch",
        _cmd_trial,
        ("config", "trial config YAML (or a study YAML: its base)"),
    )
    trial.add_argument("--checkpoint-dir", help="checkpoint every epoch here; resume if present")
    trial.add_argument("--out", help="write the last epoch's metrics to this JSON file")
    _add_set(trial)


def _report_command(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="statistics and a report of a study from MLflow")
    report.add_argument("experiment", help="the study's name (its MLflow experiment)")
    report.add_argument(
        "--tracking-uri",
        help="MLflow URI (default: the one recorded in --storage, else sqlite:///$PWD/mlflow.db)",
    )
    report.add_argument("--storage", help="read the tracking URI from this study storage")
    report.add_argument("--out", help="output folder (default: ./reports/EXPERIMENT)")
    report.add_argument("--reference", help="reference loss (default: the study's, else ce)")
    report.add_argument(
        "--metric", help=f"metric compared (default: the study's, else {contract.DEFAULT_METRIC})"
    )
    report.add_argument("--alpha", type=float, default=0.05)
    report.add_argument(
        "--min-effect", type=float,
        help="smallest gain of interest in metric units (default: the study's, else 0.5)",
    )  # fmt: skip
    report.add_argument(
        "--ci-method", choices=["t", "bca", "percentile"], default="t",
        help="CI of the mean gain: paired t (default; nominal at small n) or a bootstrap",
    )  # fmt: skip
    report.add_argument(
        "--family-method", choices=["maxt-losses", "maxt", "bonferroni"], default="maxt-losses",
        help="simultaneous intervals: the seed-level model with each loss's own variance per "
        "setting and max-|t| (default; the rows' variances where a setting has fewer than 3 "
        "rows), the same with each row's variance (maxt), or per-row paired t with Bonferroni",
    )  # fmt: skip
    report.add_argument(
        "--primary", type=lambda text: tuple(x for x in text.split(",") if x),
        help="comma-separated confirmatory candidates (default: the study's analysis.primary;"
        " another set makes the report post hoc, and says so)",
    )  # fmt: skip
    report.add_argument(
        "--all-curves", action="store_true",
        help="epochs.parquet holds every per-epoch metric (default: the curves the report uses)",
    )  # fmt: skip
    report.add_argument("--latex", action="store_true",
                        help="also comparisons.tex, a booktabs table for a paper")  # fmt: skip
    report.add_argument("--no-log", action="store_true", help="do not log it to the parent run")
    report.set_defaults(func=cli_tools.cmd_report)


def _tool_commands(sub: Subparsers) -> None:
    """bench, server, ui."""
    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument(
        "target",
        choices=["losses", "train", "scheduling", "tracking", "faults"],
        help="what to benchmark",
    )
    bench.add_argument(
        "--trials", type=int, default=200, help="scheduling, tracking, faults: trials (>= 2)"
    )
    bench.add_argument(
        "--epochs", type=int, default=1, help="scheduling, tracking, faults: epochs per trial"
    )
    bench.add_argument(
        "--tracking-uri", help="tracking, faults: the MLflow store (default: a new SQLite)"
    )
    bench.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    bench.add_argument("--repeats", type=int, default=50, help="interleaved rounds (>= 1)")
    bench.add_argument("--quick", action="store_true", help="train: small model and data")
    bench.set_defaults(func=cli_tools.cmd_bench)

    server = sub.add_parser("server", help="an MLflow tracking server for a cluster's trials")
    server.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=5000)
    server.add_argument(
        "--backend-store-uri", help="sqlite:///ABS.db or postgresql://... (default ./mlflow.db)"
    )
    server.add_argument(
        "--artifacts-destination",
        default="mlartifacts",
        help="artifact root (default ./mlartifacts)",
    )
    server.add_argument(
        "--auth", action="store_true",
        help="MLflow's basic-auth: the admin is MLFLOW_TRACKING_USERNAME / _PASSWORD",
    )  # fmt: skip
    server.add_argument(
        "--auth-db", help="users and permissions (default mlflow-auth.db beside the store)"
    )
    server.set_defaults(func=cli_tools.cmd_server)

    ui = sub.add_parser("ui", help="the MLflow UI on 127.0.0.1 for the tracking DB")
    ui.add_argument("--tracking-uri", help="MLflow URI (default: sqlite:///$PWD/mlflow.db)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=cli_tools.cmd_ui)


def _add_location(p: argparse.ArgumentParser, address: bool) -> None:
    """Where a study's runs are tracked and stored (and which Ray cluster runs it)."""
    p.add_argument(
        "--tracking-uri",
        help="MLflow URI (default: the URI recorded when the study started; for a new study "
        "sqlite:///$PWD/mlflow.db)",
    )
    p.add_argument(
        "--storage",
        default="runs",
        help="Tune storage: a folder or s3://bucket/prefix (default: ./runs)",
    )
    if address:
        p.add_argument("--address", help="join an existing Ray cluster (e.g. auto, HOST:PORT)")
        p.add_argument(
            "--verbose", action="store_true",
            help="Ray Tune's result tables instead of one line per finished trial",
        )  # fmt: skip


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one base-config value, e.g. --set optim.lr=0.05 (repeatable)",
    )


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UserError(f"--set {item!r}: malformed value ({exc})") from exc
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from study import api

    outcome = api.run(Path(args.space), storage=args.storage, tracking_uri=args.tracking_uri,
                      overrides=parse_sets(args.set), address=args.address,
                      verbose=args.verbose)  # fmt: skip
    return 0 if outcome.complete else 1


def _cmd_resume(args: argparse.Namespace) -> int:
    from study import api

    outcome = api.resume(args.name, storage=args.storage, tracking_uri=args.tracking_uri,
                         address=args.address, verbose=args.verbose)  # fmt: skip
    return 0 if outcome.complete else 1


def _cmd_plan(args: argparse.Namespace) -> int:
    from study.orchestration.spec import load_spec
    from study.tools.planning import plan_text

    print(plan_text(load_spec(args.space, parse_sets(args.set)), args.images_per_second))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from study.orchestration.storage import Storage
    from study.store import resolve_tracking_uri
    from study.tools.status import study_status

    given = resolve_tracking_uri(args.tracking_uri) if args.tracking_uri else None
    print(study_status(args.name, Storage.of(args.storage), given))
    return 0


def _cmd_trial(args: argparse.Namespace) -> int:
    from study.tools.local_trial import load_trial_config, run_local

    cfg = load_trial_config(Path(args.config), parse_sets(args.set))
    text = json.dumps(run_local(cfg, args.checkpoint_dir), indent=2, sort_keys=True)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
