"""A study stopped by what it cannot write past, said in one line with what to do next:

* a run or the experiment deleted while the study ran (`study.store.Refused`, MLflow's rule
  that a deleted run takes no writes): the runs still active become KILLED; the user restores
  what was deleted, then `study resume`;
* a full storage (ENOSPC, EDQUOT: `storage.no_space`, or a local storage found full after
  the error), met by a trial's state file, the study record or Ray Tune's own files: the
  user frees space, then `study resume`;
* a remote storage still unreachable when Ray Tune's own calls meet it (its last listing of
  the experiment, past our bounded retries: `outage.is_unreachable`): once it answers,
  `study resume`.

Each keeps what was written before (every write is atomic: `Storage.write_bytes`, the SQL
writer's transaction per batch), so the resume completes the study as if uninterrupted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from study.errors import UserError, causes
from study.orchestration.outage import is_unreachable
from study.orchestration.storage import Storage, no_space
from study.orchestration.writer import refusal
from study.store import Refused


def stop_error(
    exc: BaseException, name: str, storage: Storage, settle: Callable[[], object]
) -> UserError | None:
    """The one-line error for `exc`, after settling the runs; None if it is another error."""
    resume = f"`study resume {name} --storage {storage}` completes it"
    if (refused := refusal(exc)) is not None:
        with contextlib.suppress(Refused):  # the experiment or parent is deleted: no write
            settle()
        return UserError(
            f"MLflow refused a write: {refused} The study stopped (runs still active are "
            f"KILLED); restore what was deleted (MLflow UI, or `mlflow experiments restore` / "
            f"`mlflow runs restore`), then {resume}"
        )
    full = no_space(exc) or ("No space left on device" if storage.is_full() else None)
    if full is not None:
        with contextlib.suppress(Exception):  # the tracking store may sit on the same disk
            settle()
        return UserError(f"the storage under {storage} is full ({full}); the study stopped: "
                         f"free space, then {resume}")  # fmt: skip
    down = next((e for e in causes(exc) if is_unreachable(e)), None)
    if down is not None and storage.is_remote:
        with contextlib.suppress(Exception):  # the same outage may cut off the tracking store
            settle()
        return UserError(f"the storage {storage} is unreachable "
                         f"({str(down).splitlines()[0]}); the study stopped: once it answers, "
                         f"{resume}")  # fmt: skip
    return None
