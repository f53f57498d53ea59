from __future__ import annotations

from pathlib import Path

import pytest

from study.orchestration.storage import Storage


@pytest.mark.parametrize("as_uri", [False, True], ids=["folder", "uri"])
def test_bookkeeping_files_in_a_folder_or_behind_a_uri(tmp_path: Path, as_uri: bool) -> None:
    # file:// goes through the same pyarrow filesystem code as s3:// or gs://
    store = Storage.of(tmp_path.as_uri() if as_uri else tmp_path)
    assert store.is_remote == as_uri
    assert not store.exists("study", "spec.json")
    store.write_text('{"a": 1}', "study", "spec.json")
    assert (
        store.exists("study", "spec.json") and store.read_text("study", "spec.json") == '{"a": 1}'
    )
    assert (tmp_path / "study" / "spec.json").read_text() == '{"a": 1}'
    assert store.uri("study", "tune-x").endswith("/study/tune-x")


def test_relative_folders_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Storage.of("runs").root == str(tmp_path / "runs")
    assert Storage.of("s3://bucket/prefix/").root == "s3://bucket/prefix"
