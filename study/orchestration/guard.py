"""A study stopped before Ray Tune writes its experiment snapshot to a local storage without
room for it. Tune copies its snapshot over the stored one in place (pyarrow's `copy_files`,
not a rename): a disk that fills in the middle leaves a truncated `experiment_state` file
that no resume can read. Tune asks its callbacks for their state just before it writes the
snapshot (`Callback.get_state`, Ray 2.60 `TuneController.save_to_dir`); here that call
refuses, with ENOSPC, while the storage's disk has less free space than twice the snapshot
it would write and a MiB, so the stored snapshot stays the last whole one."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from study.orchestration.storage import Storage
from study.orchestration.tune_callback import TuneCallback

MARGIN = 1 << 20  # bytes beyond twice the snapshot


class StorageFull(OSError):
    """No room left on a storage's disk (ENOSPC), found before writing."""


class StorageGuard(TuneCallback):
    def __init__(self, folder: str) -> None:
        self.folder = folder  # the Tune experiment's folder in the storage

    def needed(self) -> int:
        """Twice the largest snapshot file there, and a MiB."""
        where = Path(self.folder)
        sizes = [p.stat().st_size for p in where.glob("experiment_state-*.json")]
        return 2 * max(sizes, default=0) + MARGIN

    def get_state(self) -> dict[str, Any] | None:
        storage = Storage.of(self.folder)
        if storage.is_full(self.needed()):
            raise StorageFull(errno.ENOSPC, "No space left on device", self.folder)
        return None
