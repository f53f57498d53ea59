"""Where a study's Tune experiments and bookkeeping files live: a local folder, or a URI that
pyarrow understands (`s3://bucket/prefix`, `gs://...`) for clusters, whose worker nodes must
all reach the same storage (Ray syncs checkpoints there, not to the head's disk). A remote
storage's calls wait out an outage (`outage`); a full disk is told apart (`no_space`)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from study.errors import causes
from study.orchestration.outage import through_outage

T = TypeVar("T")

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded")


def no_space(exc: BaseException | None) -> str | None:
    """The line that says a storage is full (ENOSPC, EDQUOT), anywhere in `exc`'s chain or
    in the text of an error Ray passed on from a trial; None if it is not that."""
    for cause in causes(exc):
        text = str(cause)
        if (isinstance(cause, OSError) and cause.errno in NO_SPACE) or any(
            w in text for w in NO_SPACE_WORDS
        ):
            found = [ln for ln in text.splitlines() if any(w in ln for w in NO_SPACE_WORDS)]
            return (found[-1] if found else text.splitlines()[0]).strip()
    return None


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

    def _call(self, fn: Callable[[], T]) -> T:
        """A remote storage's call waits out an outage (`outage.through_outage`)."""
        return through_outage(self.root, fn) if self.is_remote else fn()

    def exists(self, *parts: str) -> bool:
        import pyarrow.fs as pafs

        def found() -> bool:
            fs, path = self._fs(*parts)
            return bool(fs.get_file_info(path).type != pafs.FileType.NotFound)  # type: ignore[attr-defined]

        return self._call(found)

    def read_text(self, *parts: str) -> str:
        return self.read_bytes(*parts).decode()

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode(), *parts)

    def read_bytes(self, *parts: str) -> bytes:
        def read() -> bytes:
            fs, path = self._fs(*parts)
            with fs.open_input_stream(path) as stream:  # type: ignore[attr-defined]
                return bytes(stream.read())

        return self._call(read)

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Atomic: a reader sees the old file or the new one, never a torn one (a local file
        is written beside and renamed over; an object store publishes a PUT whole)."""
        self._call(lambda: self._write(data, *parts))

    def _write(self, data: bytes, *parts: str) -> None:
        fs, path = self._fs(*parts)
        parent = path.rsplit("/", 1)[0]
        fs.create_dir(parent, recursive=True)  # type: ignore[attr-defined]
        target = path if self.is_remote else f"{path}.tmp-{os.getpid()}"
        try:
            with fs.open_output_stream(target) as stream:  # type: ignore[attr-defined]
                stream.write(data)
        except OSError:
            if target != path:  # a full disk leaves no partial file behind
                Path(target).unlink(missing_ok=True)
            raise
        if target != path:
            fs.move(target, path)  # type: ignore[attr-defined]

    def is_full(self, margin: int = 1 << 20) -> bool:
        """A local storage with less than `margin` bytes free (what a full disk leaves when
        the error that met it was lost, e.g. in an error file Ray could not write whole)."""
        import shutil

        if self.is_remote:
            return False
        where = Path(self.root)
        while not where.exists() and where != where.parent:
            where = where.parent
        return shutil.disk_usage(where).free < margin

    def __str__(self) -> str:
        return self.root
