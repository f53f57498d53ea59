"""The stored study record: loaded the same from any directory, refusals that name the keys,
read-only commands that create nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.errors import UserError
from study.orchestration.record import (
    RECORD_FILE,
    check_same_spec,
    load_record,
    new_record,
    save_record,
    spec_diff,
)
from study.orchestration.spec import spec_from_dict
from study.orchestration.storage import Storage
from tests.conftest import tiny_dict


def _raw(root: str) -> dict:
    return {
        "name": "rec",
        "base": tiny_dict(Path("unused"), data={"name": "cifar100", "root": root}),
        "grid": {"loss": [{"name": "ce"}, {"name": "lace"}], "seed": [0, 1]},
    }


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def test_record_is_read_back_identically_from_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, elsewhere = tmp_path / "a", tmp_path / "b"
    here.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(here)
    spec = spec_from_dict(_raw("./data"), {"optim.lr": 0.05})  # relative root, a --set
    storage = Storage.of("runs")
    save_record(storage, new_record(spec, "sqlite:////somewhere/mlflow.db"))

    monkeypatch.chdir(elsewhere)
    record = load_record(Storage.of("../a/runs"), "rec")  # a relative path to the same place
    assert record.spec_hash == spec.spec_hash()
    assert record.spec.base.data.root == str(here / "data") and record.spec.base.optim.lr == 0.05
    assert record.tracking_uri == "sqlite:////somewhere/mlflow.db" and record.created
    stored = json.loads((here / "runs" / "rec" / RECORD_FILE).read_text())
    assert stored["spec_hash"] == spec.spec_hash() and stored["format"] == 2
    assert _files(elsewhere) == []
    # the same YAML run from the other directory resolves ./data elsewhere: a different spec
    with pytest.raises(UserError) as err:
        check_same_spec(Storage.of("../a/runs"), spec_from_dict(_raw("./data")))
    message = str(err.value)
    assert "base.data.root" in message and str(here / "data") in message
    assert "base.optim.lr" in message and "study resume rec" in message
    assert "remove" not in message and "delete" not in message
    check_same_spec(Storage.of("../a/runs"), record.spec)  # the stored spec itself: accepted


def test_missing_record_is_a_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no study 'nope'"):
        load_record(Storage.of(tmp_path / "store"), "nope")
    assert _files(tmp_path) == []


def test_spec_diff_lists_changed_keys() -> None:
    assert spec_diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 4}) == [
        "a.c: 2 (stored) → 3 (now)",
        "d: '<absent>' (stored) → 4 (now)",
    ]


def test_status_without_a_tracking_db_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from study.tools.status import study_status

    spec = spec_from_dict(_raw(str(tmp_path)))
    db = tmp_path / "gone" / "mlflow.db"
    save_record(Storage.of(tmp_path / "store"), new_record(spec, f"sqlite:///{db}"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    text = study_status("rec", Storage.of(tmp_path / "store"), None)
    assert f"not tracked (no tracking DB at {db})" in text and "NOT complete" in text
    assert not db.exists() and not db.parent.exists() and _files(cwd) == []
