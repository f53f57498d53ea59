"""The `study` commands that read or serve what studies wrote: `report` (statistics, through
`analysis.report`), `bench`, `server` and `ui`. Library modules are imported inside each
command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from study.errors import UserError


def tracking_uri_for(args: argparse.Namespace, stored: str | None) -> str:
    """--tracking-uri when given, else the study's recorded one, else ./mlflow.db."""
    from study.store import resolve_tracking_uri

    if args.tracking_uri is None and stored:
        return stored
    return resolve_tracking_uri(args.tracking_uri)


def cmd_report(args: argparse.Namespace) -> int:
    from study.store.access import check_usable

    stored = None
    if args.storage is not None and args.tracking_uri is None:
        from study.orchestration.record import stored_study
        from study.orchestration.storage import Storage

        stored = stored_study(Storage.of(args.storage), args.experiment).tracking_uri
    uri = tracking_uri_for(args, stored)
    check_usable(uri)
    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha: invalid value {args.alpha} (allowed: in (0, 1))")
    from analysis.render import render_text
    from study import api

    out = Path(args.out or Path("reports") / args.experiment).resolve()
    report = api.report(
        args.experiment, tracking_uri=uri, storage=None, out=out, log=not args.no_log,
        metric=args.metric, reference=args.reference, alpha=args.alpha,
        min_effect=args.min_effect, ci_method=args.ci_method, all_curves=args.all_curves,
        family_method=args.family_method, primary=args.primary, latex=args.latex,
    )  # fmt: skip
    from analysis.answer import per_setting_table
    from analysis.page import post_hoc
    from study.contract import COMPARISONS_CSV, REPORT_HTML

    found = report.findings
    print("\n".join([*post_hoc(report.settings), *found.headline, *found.answer]) + "\n")
    print(f"Per setting (simultaneous intervals; every column in {COMPARISONS_CSV}):")
    print(render_text(per_setting_table(found.comparisons, report.setting_keys, verdict=True)))
    print(f"\nWrote {len(report.files)} files to {out} (open {out / REPORT_HTML})")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from study.tools.bench import bench_losses, print_loss_table

    if args.repeats < 1:
        raise UserError(f"--repeats: invalid value {args.repeats} (allowed: >= 1)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device: {args.device!r} requested but no CUDA device is available")
    if args.target in ("scheduling", "tracking", "faults"):
        from study.tools.bench_faults import bench_faults
        from study.tools.bench_scheduling import bench_scheduling
        from study.tools.bench_tracking import bench_tracking

        if args.trials < 2:
            raise UserError(f"--trials: invalid value {args.trials} (allowed: >= 2)")
        if args.epochs < 1:
            raise UserError(f"--epochs: invalid value {args.epochs} (allowed: >= 1)")
        run = {
            "scheduling": lambda: bench_scheduling(args.trials, args.epochs),
            "tracking": lambda: bench_tracking(args.trials, args.epochs, args.tracking_uri),
            "faults": lambda: bench_faults(args.trials, args.epochs, args.tracking_uri),
        }
        for line in run[args.target]():
            print(line, flush=True)
        return 0
    if args.target == "train":
        from study.tools.bench import bench_train

        for line in bench_train(args.device, args.quick):
            print(line, flush=True)
        return 0
    rows = bench_losses(args.device, repeats=args.repeats)
    print_loss_table(rows, args.device, args.repeats)
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    from study.store import resolve_tracking_uri
    from study.store.access import redacted
    from study.tools.server import auth_env, auth_folder, server_command, server_env

    backend = resolve_tracking_uri(args.backend_store_uri)
    artifacts = str(Path(args.artifacts_destination).resolve())
    env = server_env(backend)
    access = ""
    if args.auth:
        env |= auth_env(auth_folder(backend, Path.cwd()), args.auth_db)
        access = (f"; basic-auth, admin {env['MLFLOW_AUTH_ADMIN_USERNAME']!r}, users in "
                  f"{redacted(_auth_db(env['MLFLOW_AUTH_CONFIG_PATH']))}")  # fmt: skip
    print(
        f"MLflow tracking server on http://{args.host}:{args.port} ({redacted(backend)}{access})",
        flush=True,
    )
    cmd = server_command(args.host, args.port, artifacts, auth=args.auth)
    os.execve(sys.executable, cmd, env)  # replaces this process: stop by PID


def _auth_db(ini: str) -> str:
    import configparser

    config = configparser.ConfigParser()
    config.read(ini)
    return config["mlflow"]["database_uri"]


def cmd_ui(args: argparse.Namespace) -> int:
    from study.store import resolve_tracking_uri, ui_link
    from study.store.access import check_usable

    uri = resolve_tracking_uri(args.tracking_uri)
    check_usable(uri)
    cmd, env = ui_command(uri, args.host, args.port)
    link = ui_link(f"http://{args.host}:{args.port}")
    print(f"MLflow UI on {link} (the runs tables; Ctrl-C stops it)", flush=True)
    os.execve(sys.executable, cmd, env)  # replaces this process: its PID is the server's


def ui_command(uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """`mlflow ui` without its job consumers (7 huey processes otherwise; the UI needs none)."""
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    cmd += ["--host", host, "--port", str(port)]
    return cmd, {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
