"""Where a study's Tune experiments and bookkeeping files live: a local folder, or a URI that
pyarrow understands (`s3://bucket/prefix`, `gs://...`) for clusters, whose worker nodes must
all reach the same storage (Ray syncs checkpoints there, not to the head's disk)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Storage:
    root: str  # an absolute local path, or a URI with a scheme

    @classmethod
    def of(cls, location: str | Path) -> Storage:
        text = str(location)
        if "://" in text:
            return cls(text.rstrip("/"))
        return cls(str(Path(text).expanduser().resolve()))

    @property
    def is_remote(self) -> bool:
        return "://" in self.root

    def uri(self, *parts: str) -> str:
        """What Ray Tune takes as `storage_path` or restore path."""
        return "/".join([self.root, *parts])

    def _fs(self, *parts: str) -> tuple[object, str]:
        import pyarrow.fs as pafs

        if self.is_remote:
            fs, path = pafs.FileSystem.from_uri(self.uri(*parts))
            return fs, path
        return pafs.LocalFileSystem(), self.uri(*parts)

    def exists(self, *parts: str) -> bool:
        import pyarrow.fs as pafs

        fs, path = self._fs(*parts)
        return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)  # type: ignore[attr-defined]

    def read_text(self, *parts: str) -> str:
        fs, path = self._fs(*parts)
        with fs.open_input_stream(path) as stream:  # type: ignore[attr-defined]
            return bytes(stream.read()).decode()

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode(), *parts)

    def read_bytes(self, *parts: str) -> bytes:
        fs, path = self._fs(*parts)
        with fs.open_input_stream(path) as stream:  # type: ignore[attr-defined]
            return bytes(stream.read())

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Atomic: a reader sees the old file or the new one, never a torn one (a local file
        is written beside and renamed over; an object store publishes a PUT whole)."""
        fs, path = self._fs(*parts)
        parent = path.rsplit("/", 1)[0]
        fs.create_dir(parent, recursive=True)  # type: ignore[attr-defined]
        target = path if self.is_remote else f"{path}.tmp-{os.getpid()}"
        with fs.open_output_stream(target) as stream:  # type: ignore[attr-defined]
            stream.write(data)
        if target != path:
            fs.move(target, path)  # type: ignore[attr-defined]

    def __str__(self) -> str:
        return self.root
