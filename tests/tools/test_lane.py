"""`make test`'s serial lane holds: under `-n 2 --dist loadgroup`, the tests of the modules
tests/conftest.py's SERIAL names all run on one pytest-xdist worker, one at a time (the rest
go wherever a worker is free). Run on a planted tree that carries the project's own conftest;
and every module the lane names exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import SERIAL, serial

TESTS = Path(__file__).parents[1]

PLANTED = """\
import os, pathlib, time

import pytest


@pytest.mark.parametrize("k", range(4))
def test_one(k: int) -> None:
    time.sleep(0.3)  # long enough that a free worker would take the next one
    out = pathlib.Path(os.environ["LANE_OUT"], f"{__name__.rsplit('.', 1)[-1]}-{k}")
    out.write_text(os.environ.get("PYTEST_XDIST_WORKER", "none"))
"""


def test_the_serial_modules_run_on_one_worker(tmp_path: Path) -> None:
    tree, out = tmp_path / "tree", tmp_path / "out"
    (tree / "tests" / "e2e").mkdir(parents=True)
    out.mkdir()
    (tree / "pytest.ini").write_text("[pytest]\n")  # the rootdir, so node ids start "tests/"
    shutil.copy(TESTS / "conftest.py", tree / "tests" / "conftest.py")
    for module in ("e2e/test_s3", "e2e/test_multinode", "test_free"):
        (tree / "tests" / f"{module}.py").write_text(PLANTED)

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "-n", "2", "--dist", "loadgroup", "tests"],
        cwd=tree, capture_output=True, text=True, timeout=300,
        env={"LANE_OUT": str(out), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ran = {p.name: p.read_text() for p in out.iterdir()}
    assert len(ran) == 12
    lane = {w for name, w in ran.items() if not name.startswith("test_free-")}
    assert len(lane) == 1 and lane <= {"gw0", "gw1"}, ran


def test_every_module_the_lane_names_exists() -> None:
    assert [m for m in SERIAL if not (TESTS.parent / m).is_file()] == []
    assert serial("tests/e2e/test_s3.py::test_x[1]")
    assert not serial("tests/e2e/test_s3_outage.py.bak::test_x")
    assert not serial("tests/e2e/test_e2e.py::test_x")
