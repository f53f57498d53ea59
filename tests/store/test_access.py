"""Readers refuse a tracking URI they cannot use, in one line (`study.store.access`): an
unknown scheme, a missing SQLite file, a database or a server that does not answer; a
password in the URI is never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from study.errors import UserError
from study.store.access import check_usable
from tests.conftest import free_port


def _cases(tmp: Path) -> list[tuple[str, str]]:
    port = free_port()  # nothing listens there
    return [
        ("foo://somewhere/x", "lossbench reads and writes sqlite, postgresql"),
        (f"file://{tmp}/mlruns", "lossbench reads and writes"),
        (f"sqlite:///{tmp}/absent.db", f"no tracking DB at {tmp}/absent.db"),
        (f"postgresql://u:pw-SECRET@127.0.0.1:{port}/db", "cannot connect"),
        (f"http://127.0.0.1:{port}", "does not answer"),
    ]


def test_an_unusable_tracking_uri_is_refused_in_one_line(tmp_path: Path) -> None:
    for uri, said in _cases(tmp_path):
        with pytest.raises(UserError) as raised:
            check_usable(uri)
        text = str(raised.value)
        assert said in text and "\n" not in text and "pw-SECRET" not in text, text


def test_study_report_says_it_and_exits_2(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "study", "report", "x", "--tracking-uri", "foo://somewhere/x"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'foo://somewhere/x': lossbench reads" in lines[0], proc.stderr
