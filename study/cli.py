"""The `study` command: `run`, `resume`, `plan`, `status`, `trial`, `report`, `bench`, `ui`.

Errors a user can cause end in one line on stderr and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from study.errors import UserError
from study.signals import terminate_like_interrupt

if TYPE_CHECKING:  # imported lazily at run time: `study trial` must not pull in Ray or MLflow
    from study.spaces import StudySpec
    from study.storage import Storage

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

    run = sub.add_parser("run", help="run (or resume) a study from a search-space YAML")
    run.add_argument("space", help="study YAML, e.g. search_spaces/quickstart.yaml")
    _add_location(run, address=True)
    _add_set(run)
    run.set_defaults(func=_cmd_run)

    resume = sub.add_parser("resume", help="finish an interrupted study from its storage")
    resume.add_argument("name", help="the study's name")
    _add_location(resume, address=True)
    resume.set_defaults(func=_cmd_resume)

    plan = sub.add_parser("plan", help="stages, trials and estimated cost, without running")
    plan.add_argument("space", help="study YAML")
    plan.add_argument("--images-per-second", type=float, help="measured throughput per trial")
    _add_set(plan)
    plan.set_defaults(func=_cmd_plan)

    status = sub.add_parser("status", help="per-trial state and per-stage progress of a study")
    status.add_argument("name", help="the study's name")
    _add_location(status, address=False)
    status.set_defaults(func=_cmd_status)

    trial = sub.add_parser("trial", help="one trial in-process (no Ray), progress per epoch")
    trial.add_argument("config", help="trial config YAML (or a study YAML: its base is used)")
    trial.add_argument("--checkpoint-dir", help="checkpoint every epoch here; resume if present")
    trial.add_argument("--out", help="write the last epoch's metrics to this JSON file")
    _add_set(trial)
    trial.set_defaults(func=_cmd_trial)

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
        "--metric", help="metric compared (default: the study's, else final_paper_top5_error)"
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
    report.add_argument("--no-log", action="store_true", help="do not log it to the parent run")
    report.set_defaults(func=_cmd_report)

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench.add_argument(
        "target", choices=["losses", "train", "scheduling"], help="what to benchmark"
    )
    bench.add_argument("--trials", type=int, default=200, help="scheduling: trials (>= 1)")
    bench.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    bench.add_argument("--repeats", type=int, default=50, help="interleaved rounds (>= 1)")
    bench.add_argument("--quick", action="store_true", help="train: small model and data")
    bench.set_defaults(func=_cmd_bench)

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
    server.set_defaults(func=_cmd_server)

    ui = sub.add_parser("ui", help="the MLflow UI on 127.0.0.1 for the tracking DB")
    ui.add_argument("--tracking-uri", help="MLflow URI (default: sqlite:///$PWD/mlflow.db)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=_cmd_ui)
    return parser


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
    from study.record import has_record, stored_study
    from study.spaces import load_spec
    from study.storage import Storage

    spec = load_spec(args.space, parse_sets(args.set))
    storage = Storage.of(args.storage)
    stored_uri = None
    if args.tracking_uri is None and has_record(storage, spec.name):
        stored_uri = stored_study(storage, spec.name).tracking_uri or None  # a resume
    return _launch(spec, storage, stored_uri, args)


def _cmd_resume(args: argparse.Namespace) -> int:
    from study.record import load_record
    from study.storage import Storage

    storage = Storage.of(args.storage)
    record = load_record(storage, args.name)
    return _launch(record.spec, storage, record.tracking_uri or None, args)


def _tracking_uri(args: argparse.Namespace, stored: str | None) -> str:
    """--tracking-uri when given, else the study's recorded one, else ./mlflow.db."""
    from study.tracking import resolve_tracking_uri

    if args.tracking_uri is None and stored:
        return stored
    return resolve_tracking_uri(args.tracking_uri)


def _launch(
    spec: StudySpec, storage: Storage, stored_uri: str | None, args: argparse.Namespace
) -> int:
    from study.data import preflight
    from study.runner import run_study
    from study.tracking import resolve_tracking_uri

    for cfg in {(c.data, c.noise): c for c in spec.trial_configs()}.values():
        preflight(cfg)  # each distinct data + noise setting once, before anything is written
    from study.server import check_tracking, redacted
    from study.tracking import ui_link

    uri = _tracking_uri(args, stored_uri)
    check_tracking(uri)
    outcome = run_study(spec, uri, storage, args.address, verbose=args.verbose)
    _print_summary(outcome.final, [k for k in spec.grid if k != "seed"])
    counts = ", ".join(
        f"{stage}: {outcome.finished.get(stage, 0)}/{n} finished"
        + (f", {outcome.errored[stage]} errored" if outcome.errored.get(stage) else "")
        for stage, n in outcome.expected.items()
    )
    where = outcome.storage.uri(outcome.name)
    print(f"\nStudy {outcome.name!r}: {counts}. Tune storage: {where}")
    ui_cmd = f"{_self_command()} ui"
    if uri != resolve_tracking_uri(None):  # not the default that `study ui` opens
        ui_cmd += f" --tracking-uri {redacted(uri)}"
    link = ui_link("http://127.0.0.1:5000", outcome.experiment_id)
    print(
        f"Next: run `{ui_cmd}` and open {link} "
        f"(experiment {outcome.name!r}, tracking URI {redacted(uri)}); "
        f"`{_self_command()} report {outcome.name}` for the statistics."
    )
    if not outcome.complete:
        print(
            f"The study is not complete: `{_self_command()} resume {outcome.name} --storage "
            f"{storage}` finishes it (from any directory)."
        )
        return 1
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from study.spaces import load_spec
    from study.stages import ASSUMED_IMAGES_PER_SECOND, first_stage, plan_table

    spec = load_spec(args.space, parse_sets(args.set))
    rate = args.images_per_second or spec.resources.images_per_second
    print(f"Study {spec.name!r} ({spec.source}): {spec.description.strip()}")
    axes = ", ".join(f"{k} ({len(v)})" for k, v in spec.grid.items()) or "none"
    print(f"Grid axes: {axes}; cells: {len(spec.trial_overrides())}")
    if spec.search is not None:
        s = spec.search
        print(
            f"Search: {s.sampler} (seed {s.sampler_seed}) over {', '.join(s.params)}"
            f"{' + per-loss ' + ', '.join(s.per_loss) if s.per_loss else ''}; "
            f"{s.num_samples} samples per cell; objective {s.mode} {s.metric}; "
            f"scheduler {spec.scheduler.name}; concurrency "
            f"{spec.resources.max_concurrent_trials or '1 (Ray default for Optuna)'}"
        )
        print(f"Experiments in stage 1: {len(first_stage(spec))}")
    print(f"Resources per trial: {spec.resources.cpu:g} CPU, {spec.resources.gpu:g} GPU")
    note = (
        "" if rate else f" (assumed {ASSUMED_IMAGES_PER_SECOND:g}; set resources.images_per_second)"
    )
    print(f"Throughput: {rate or ASSUMED_IMAGES_PER_SECOND:g} images/s per trial{note}")
    heads = ("trials", "epochs", "images", "GPU-hours", "CPU-hours")
    print(
        "\n"
        + f"{'stage':10s} "
        + " ".join(f"{h:>{w}s}" for h, w in zip(heads, (7, 10, 14, 10, 10), strict=True))
    )
    total = 0.0
    for row in plan_table(spec, rate):
        epochs = ",".join(str(e) for e in row["epochs_per_trial"])
        bound = (
            " (upper bound: ASHA)"
            if row["stage"] == "tune" and spec.scheduler.name == "asha"
            else ""
        )
        print(
            f"{row['stage']:10s} {row['trials']:7d} {epochs:>10s} {row['images']:14.3g} "
            f"{row['gpu_hours']:10.2f} {row['cpu_hours']:10.2f}{bound}"
        )
        total += row["gpu_hours"]
    print(f"{'total':10s} {'':7s} {'':10s} {'':14s} {total:10.2f}")
    if spec.resources.gpu == 0:
        print(_wall_time_here(spec, plan_table(spec, rate)))
    return 0


def _wall_time_here(spec: StudySpec, rows: list[dict[str, Any]]) -> str:
    """A CPU study on this machine: trials at a time = cores / resources.cpu (capped by
    max_concurrent_trials), plus the measured scheduling and tracking overhead per trial."""
    from study.stages import OVERHEAD_S_PER_TRIAL

    cores = os.cpu_count() or 1
    slots = max(1, int(cores // spec.resources.cpu))
    if spec.resources.max_concurrent_trials:
        slots = min(slots, spec.resources.max_concurrent_trials)
    trials = sum(r["trials"] for r in rows)
    seconds = sum(r["trial_hours"] for r in rows) * 3600 / slots + trials * OVERHEAD_S_PER_TRIAL
    return (
        f"Wall time on this machine ({cores} cores, {slots} trial(s) at a time): about "
        f"{seconds / 60:.0f} min (+{OVERHEAD_S_PER_TRIAL} s per trial of scheduling/tracking)"
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from study.status import study_status
    from study.storage import Storage
    from study.tracking import resolve_tracking_uri

    given = resolve_tracking_uri(args.tracking_uri) if args.tracking_uri else None
    print(study_status(args.name, Storage.of(args.storage), given))
    return 0


def _self_command() -> str:
    """How the user can call `study` again: plain `study` when it is on PATH, else its path
    (e.g. `.venv/bin/study` after `make demo`)."""
    import shutil

    argv0 = Path(sys.argv[0])
    if argv0.name != "study":
        return f"{Path(sys.executable).name} -m study.cli"
    on_path = shutil.which("study")
    if on_path and Path(on_path).resolve() == argv0.resolve():
        return "study"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0.resolve())


def _print_summary(final: list[dict[str, Any]], axes: list[str]) -> None:
    """Mean ± std over seeds of the final test errors, per grid cell (all axes but the seed)."""
    from study.stages import trial_label

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in final:
        cell = trial_label({k: row[k] for k in axes if k != "seed" and k in row})
        groups.setdefault(cell or "all", []).append(row)
    if not groups:
        return
    metrics = ("final_paper_top5_error", "final_test_top1_error")
    print(f"\nmean ± std over seeds (percent): {', '.join(metrics)}")
    for cell, rows in sorted(groups.items()):
        cols = []
        for metric in metrics:
            values = [r[metric] for r in rows]
            std = statistics.stdev(values) if len(values) > 1 else float("nan")
            cols.append(f"{statistics.fmean(values):7.3f} ± {std:.3f}")
        print(f"  {cell:40s} n={len(rows)}  " + "   ".join(cols))


def _cmd_trial(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from study.config import TrialConfig
    from study.data import preflight
    from study.errors import ConfigError
    from study.trial import load_checkpoint, run_trial, save_checkpoint

    path = Path(args.config)
    if not path.is_file():
        raise UserError(f"{path}: no such config file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML: {exc}".replace("\n", " ")) from exc
    if isinstance(raw, dict) and "base" in raw:
        raw = raw["base"]
    try:
        cfg = TrialConfig.from_dict(raw).with_overrides(parse_sets(args.set))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    cfg = cfg.with_absolute_paths()
    preflight(cfg)

    ckpt_path = Path(args.checkpoint_dir) / "checkpoint.pt" if args.checkpoint_dir else None
    state = load_checkpoint(str(ckpt_path)) if ckpt_path and ckpt_path.is_file() else None
    start = int(state["epoch"]) if state else 0
    bar = tqdm(total=cfg.schedule.epochs, initial=start, unit="epoch", desc=cfg.loss.name)

    def report(
        metrics: dict[str, float], trial_state: dict[str, Any], artifacts: dict[str, bytes]
    ) -> None:
        if ckpt_path is not None:
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
            for name, data in artifacts.items():
                (ckpt_path.parent / name).write_bytes(data)
            tmp = ckpt_path.with_suffix(".tmp")
            save_checkpoint(trial_state, str(tmp))
            os.replace(tmp, ckpt_path)  # atomic: a crash never leaves half a checkpoint
        bar.set_postfix(
            loss=f"{metrics['train_loss']:.3f}", top1=f"{metrics['test_top1_error']:.2f}"
        )
        bar.update(1)

    metrics = run_trial(cfg, report, state)
    bar.close()
    text = json.dumps(metrics, indent=2, sort_keys=True)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from study.tracking import sqlite_path

    stored = None
    if args.storage is not None and args.tracking_uri is None:
        from study.record import stored_study
        from study.storage import Storage

        stored = stored_study(Storage.of(args.storage), args.experiment).tracking_uri
    uri = _tracking_uri(args, stored)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise UserError(f"--tracking-uri: no tracking DB at {db}; run a study first")
    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha: invalid value {args.alpha} (allowed: in (0, 1))")
    # The CLI is the one place where `study` reaches into `analysis` (reading runs only).
    from analysis.report import ReportConfig, build_report, render_text

    out = Path(args.out or Path("reports") / args.experiment).resolve()
    cfg = ReportConfig(
        metric=args.metric, reference=args.reference, alpha=args.alpha,
        min_effect=args.min_effect, ci_method=args.ci_method,
    )  # fmt: skip
    try:
        files = build_report(uri, args.experiment, out, cfg, log=not args.no_log)
    except (LookupError, ValueError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from exc
    import pandas as pd

    table = pd.read_csv(out / "comparisons.csv")
    meta = pd.read_csv(out / "meta_analysis.csv")
    print("Pooled over cells (random effects):")
    print(render_text(meta.drop(columns=["method"])))
    keep = [c for c in table.columns if c not in ("pi_low", "pi_high", "note", "paired")]
    print("\nPer cell:")
    print(render_text(table[keep]))
    print(f"\nWrote {len(files)} files to {out} (open {out / 'report.html'})")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from study.bench import bench_losses, print_loss_table

    if args.repeats < 1:
        raise UserError(f"--repeats: invalid value {args.repeats} (allowed: >= 1)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device: {args.device!r} requested but no CUDA device is available")
    if args.target == "scheduling":
        from study.bench import bench_scheduling

        if args.trials < 1:
            raise UserError(f"--trials: invalid value {args.trials} (allowed: >= 1)")
        for line in bench_scheduling(args.trials):
            print(line, flush=True)
        return 0
    if args.target == "train":
        from study.bench import bench_train

        for line in bench_train(args.device, args.quick):
            print(line, flush=True)
        return 0
    rows = bench_losses(args.device, repeats=args.repeats)
    print_loss_table(rows, args.device, args.repeats)
    return 0


def _cmd_server(args: argparse.Namespace) -> int:
    from study.server import redacted, server_command, server_env
    from study.tracking import resolve_tracking_uri

    backend = resolve_tracking_uri(args.backend_store_uri)
    artifacts = str(Path(args.artifacts_destination).resolve())
    print(
        f"MLflow tracking server on http://{args.host}:{args.port} ({redacted(backend)})",
        flush=True,
    )
    cmd = server_command(args.host, args.port, artifacts)
    os.execve(sys.executable, cmd, server_env(backend))  # replaces this process: stop by PID


def _cmd_ui(args: argparse.Namespace) -> int:
    from study.tracking import resolve_tracking_uri, sqlite_path, ui_link

    uri = resolve_tracking_uri(args.tracking_uri)
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise UserError(f"--tracking-uri: no tracking DB at {db}; run a study first")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    cmd += ["--host", args.host, "--port", str(args.port)]
    link = ui_link(f"http://{args.host}:{args.port}")
    print(f"MLflow UI on {link} (the runs tables; Ctrl-C stops it)", flush=True)
    os.execv(sys.executable, cmd)  # replaces this process: its PID is the server's


if __name__ == "__main__":
    sys.exit(main())
