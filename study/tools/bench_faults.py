"""`study bench faults`: the driver of a study of N trivial trials (`bench_scheduling`'s)
SIGKILLed at about half-way, then `study resume` completing it, each a fresh `study`
process as an operator would run them.

Printed: the uninterrupted study's wall time (unless `--no-baseline`), when the driver was
killed and how many trials had finished, the resume's start-up (the command to the first
trial it finishes, read from the tracking database every 0.25 s), the resume's wall time, the
overhead of kill + resume against the uninterrupted study, and the checks: N trial runs, all
FINISHED, one per trial, every epoch logged once. A check that fails raises.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from study import contract as c
from study.store.access import redacted
from study.tools.bench import machine_line
from study.tools.bench_scheduling import trivial_study

NAME = "bench_faults"
_trials_sql = f"""
SELECT r.run_uuid, r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid
JOIN experiments e ON e.experiment_id = r.experiment_id
WHERE t.key = '{c.ROLE_TAG}' AND t.value = 'trial' AND r.lifecycle_stage = 'active'
AND e.name = '{NAME}'
"""


def _study(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    """`study ARGS` in its own process group (its local Ray with it), its errors in a file."""
    cmd = [sys.executable, "-m", "study", *args]
    with (cwd / f"{args[0]}-{time.monotonic_ns()}.err").open("wb") as err:
        return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)  # fmt: skip


def _said(proc: subprocess.Popen[bytes], cwd: Path) -> str:
    """The end of what the study wrote on stderr (its last error file)."""
    files = sorted(cwd.glob("*.err"), key=lambda p: p.stat().st_mtime)
    return files[-1].read_text(errors="replace")[-3000:] if files else ""


def _scalar(uri: str, sql: str) -> Any:
    import sqlalchemy as sa

    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    except sa.exc.OperationalError:  # not created yet, or locked a moment
        return 0
    finally:
        engine.dispose()


def finished(uri: str) -> int:
    """Trial runs FINISHED in the tracking database."""
    return int(_scalar(uri, f"SELECT COUNT(*) FROM ({_trials_sql}) x WHERE x.status = "
                            "'FINISHED'") or 0)  # fmt: skip


def _wait_until(proc: subprocess.Popen[bytes], predicate: Any, what: str, cwd: Path) -> float:
    start = time.perf_counter()
    while not predicate():
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the study exited ({proc.returncode}) first: "
                               f"{_said(proc, cwd)}")  # fmt: skip
        time.sleep(0.25)
    return time.perf_counter() - start


def _finish(proc: subprocess.Popen[bytes], what: str, cwd: Path) -> None:
    if proc.wait() != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {_said(proc, cwd)}")


def check_complete(uri: str, n: int, epochs: int) -> list[str]:
    """What a completed study must hold after a kill and a resume; raises if it does not."""
    import sqlalchemy as sa

    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        runs = conn.execute(sa.text(_trials_sql)).all()
        ids = conn.execute(sa.text(
            f"SELECT COUNT(DISTINCT t.value) FROM tags t JOIN ({_trials_sql}) x "
            f"ON x.run_uuid = t.run_uuid WHERE t.key = '{c.TRIAL_ID_TAG}'")).scalar()  # fmt: skip
        steps = conn.execute(sa.text(
            f"SELECT m.run_uuid, COUNT(*), COUNT(DISTINCT m.step) FROM metrics m "
            f"JOIN ({_trials_sql}) x ON x.run_uuid = m.run_uuid WHERE m.key = "
            f"'{c.TRAIN_LOSS}' GROUP BY m.run_uuid")).all()  # fmt: skip
    engine.dispose()
    done = sum(1 for _, status in runs if status == "FINISHED")
    once = sum(1 for _, count, distinct in steps if count == distinct == epochs)
    problems = [
        f"{len(runs)} trial runs, expected {n}" if len(runs) != n else "",
        f"{done}/{n} FINISHED" if done != n else "",
        f"{ids} distinct trial ids" if ids != n else "",
        f"{n - once} runs without every epoch exactly once" if once != n else "",
    ]
    if any(problems):
        raise RuntimeError("; ".join(p for p in problems if p))
    return [f"checks: {len(runs)} trial runs, {done} FINISHED, {ids} distinct trial ids, "
            f"every one of {epochs} epoch(s) logged once in each run"]  # fmt: skip


def bench_faults(n_trials: int, epochs: int = 2, uri: str | None = None,
                 kill_at: float = 0.5, baseline: bool = True) -> list[str]:  # fmt: skip
    """Run the benchmark in a temporary folder; `uri`: a tracking database (default a new
    SQLite file there). The uninterrupted study, when `baseline`, runs first in its own
    storage: in a SQLite file of its own, or in the same database, its experiment then
    renamed aside so that the faulted study starts a new one under the same name."""
    lines = [f"# study bench faults: {n_trials} trivial trials of {epochs} epoch(s), driver "
             f"SIGKILLed at {kill_at:.0%} of the trials finished, then `study resume`; "
             f"{os.cpu_count()} CPUs; {machine_line('cpu')}"]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="lossbench-faults-") as tmp:
        folder = Path(tmp)
        space = folder / "faults.yaml"
        space.write_text(yaml.safe_dump(trivial_study(n_trials, epochs, NAME)))
        n = n_trials - n_trials % 2 or 2
        if baseline:
            base_uri = f"sqlite:///{folder / 'baseline.db'}" if uri is None else uri
            start = time.perf_counter()
            plain = ["run", str(space), "--tracking-uri", base_uri, "--storage",
                     str(folder / "baseline")]  # fmt: skip
            _finish(_study(*plain, cwd=folder), "the uninterrupted study", folder)
            whole = time.perf_counter() - start
            lines.append(f"uninterrupted study: {whole:.1f} s ({redacted(base_uri)})")
            if uri is not None:
                _drop_experiment(uri)
        uri = uri or f"sqlite:///{folder / 'mlflow.db'}"
        where = ["--tracking-uri", uri, "--storage", str(folder / "runs")]
        start = time.perf_counter()
        driver = _study("run", str(space), *where, cwd=folder)
        _wait_until(driver, lambda: finished(uri) >= kill_at * n, "the first half", folder)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        killed_after, at_kill = time.perf_counter() - start, finished(uri)
        lines.append(f"driver SIGKILLed after {killed_after:.1f} s with {at_kill}/{n} trials "
                     f"FINISHED")  # fmt: skip
        start = time.perf_counter()
        resume = _study("resume", NAME, *where[2:], cwd=folder)
        startup = _wait_until(resume, lambda: finished(uri) > at_kill, "the first new trial",
                              folder)  # fmt: skip
        _finish(resume, "study resume", folder)
        again = time.perf_counter() - start
        lines.append(f"`study resume` start-up (command to its first finished trial): "
                     f"{startup:.1f} s (target <= 60 at 10,000 trials)")  # fmt: skip
        lines.append(f"`study resume` wall time: {again:.1f} s for {n - at_kill} trials")
        if baseline:
            extra = killed_after + again - whole
            lines.append(f"overhead of kill + resume against the uninterrupted study: "
                         f"{extra:+.1f} s ({extra / whole:+.1%})")  # fmt: skip
        lines += check_complete(uri, n, epochs)
    return lines


def _drop_experiment(uri: str) -> None:
    """The uninterrupted study's runs gone from a shared database (rename its experiment, so
    that the faulted study starts a new one under the same name)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(NAME)
    if exp is not None:
        client.rename_experiment(exp.experiment_id, f"{NAME}-baseline-{exp.experiment_id}")
