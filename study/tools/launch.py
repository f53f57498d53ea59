"""`study run` and `study resume` as library calls: check what a study needs before anything is
written (data, noise files, the tracking store), open its stored record
(`study.orchestration.record.open_study`, the one path both commands take), run it
(`study.orchestration.runner`) and say what happened and what to do next."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from study.orchestration.record import open_study
from study.orchestration.spec import StudySpec
from study.orchestration.storage import Storage
from study.store import resolve_tracking_uri, ui_link
from study.store.access import check_usable, redacted

if TYPE_CHECKING:
    from study.orchestration.runner import StudyOutcome


def launch(
    spec: StudySpec, storage: Storage, uri: str, address: str | None, verbose: bool
) -> StudyOutcome:
    """Run or resume `spec` in `storage`, tracked at `uri`, and say what happened."""
    from study.orchestration.runner import run_study
    from study.training.data import preflight

    for cfg in {(c.data, c.noise): c for c in spec.trial_configs()}.values():
        preflight(cfg)  # each distinct data + noise setting once, before anything is written
    check_usable(uri, reading=False)
    record = open_study(storage, spec, uri)
    outcome = run_study(record, storage, address, verbose=verbose)
    print_summary(outcome.final, [k for k in spec.grid if k != "seed"], spec.analysis.metric)
    counts = ", ".join(
        f"{stage}: {outcome.finished.get(stage, 0)}/{n} finished"
        + (f", {outcome.errored[stage]} errored" if outcome.errored.get(stage) else "")
        for stage, n in outcome.expected.items()
    )
    print(f"\nStudy {outcome.name!r}: {counts}. Tune storage: {storage.uri(outcome.name)}")
    ui_cmd = f"{self_command()} ui"
    if uri != resolve_tracking_uri(None):  # not the default that `study ui` opens
        ui_cmd += f" --tracking-uri {redacted(uri)}"
    link = ui_link("http://127.0.0.1:5000", outcome.experiment_id)
    print(
        f"Next: run `{ui_cmd}` and open {link} "
        f"(experiment {outcome.name!r}, tracking URI {redacted(uri)}); "
        f"`{self_command()} report {outcome.name}` for the statistics."
    )
    if not outcome.complete:
        print(
            f"The study is not complete: `{self_command()} resume {outcome.name} --storage "
            f"{storage}` finishes it (from any directory)."
        )
    return outcome


def self_command() -> str:
    """How the user can call `study` again: plain `study` when it is on PATH, else its path
    (e.g. `.venv/bin/study` after `make demo`)."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "study":
        return f"{Path(sys.executable).name} -m study"
    on_path = shutil.which("study")
    if on_path and Path(on_path).resolve() == argv0.resolve():
        return "study"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0.resolve())


def print_summary(final: list[dict[str, Any]], axes: list[str], metric: str) -> None:
    """Mean ± std over seeds of the study's analysis metric, per loss and setting (every grid
    axis but the seed)."""
    from study.orchestration.settle import per_loss_and_setting
    from study.orchestration.stages import trial_label

    values = [
        (trial_label({k: row[k] for k in axes if k != "seed" and k in row}), row[metric])
        for row in final
        if metric in row
    ]
    if not values:
        return
    print(f"\nmean ± std over seeds: {metric}")
    for group, n, mean, sd in per_loss_and_setting(values):
        print(f"  {group:40s} n={n}  {mean:7.3f} ± {sd:.3f}")
