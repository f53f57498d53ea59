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


def test_a_full_disk_is_told_apart_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from study.orchestration.storage import no_space

    # the line that says it, found down an error's chain or in the text Ray passes on
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/x/state.pt")
        except OSError as inner:
            raise RuntimeError("trial failed") from inner
    except RuntimeError as outer:
        assert no_space(outer) == "[Errno 28] No space left on device: '/x/state.pt'"
    relayed = RuntimeError("Traceback ...\nOSError: [Errno 28] Error writing bytes to file. "
                           "Detail: [errno 28] No space left on device\n")  # fmt: skip
    assert no_space(relayed) is not None and "errno 28" in str(no_space(relayed))
    assert no_space(OSError(errno.EACCES, "Permission denied")) is None

    # a write that fails midway leaves neither the file nor its temporary twin
    import pyarrow.fs as pafs

    class Stream:
        def __init__(self, stream: object) -> None:
            self.stream = stream

        def __enter__(self) -> Stream:
            return self

        def __exit__(self, *exc: object) -> None:
            self.stream.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> None:
            self.stream.write(data[:10])  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")

    local = pafs.LocalFileSystem()

    class Filling:
        def create_dir(self, path: str, recursive: bool) -> None:
            local.create_dir(path, recursive=recursive)

        def open_output_stream(self, path: str) -> Stream:
            return Stream(local.open_output_stream(path))

    storage = Storage.of(tmp_path)
    monkeypatch.setattr(Storage, "_fs", lambda self, *parts: (Filling(), self.uri(*parts)))
    with pytest.raises(OSError, match="No space"):
        storage.write_bytes(b"x" * 100, "states", "t.pt")
    assert list((tmp_path / "states").iterdir()) == []
