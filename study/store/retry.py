"""How the store survives a flaky tracking store: calls retried with backoff on transient
errors (a tracking server restarting, a locked SQLite file), and SQLite in write-ahead-log
mode for the driver that writes every trial's runs. The standard library's `time` and `re`
and SQLAlchemy's events do the work."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

logger = logging.getLogger(__name__)


CACHE_KIB = 256 * 1024  # the driver's SQLite page cache per connection (`sqlite_write_ahead`)


def sqlite_write_ahead(engine: Any) -> None:
    """SQLite in write-ahead-log mode, synced at its checkpoints rather than at every commit
    (`PRAGMA journal_mode=WAL`, `synchronous=NORMAL`: sqlite.org/wal.html, /pragma.html), with
    a page cache of up to 256 MB per connection (`cache_size`; SQLite's default is 2 MB).

    A study commits several times per trial (MLflow opens a transaction per params, metrics
    and tags of a `log_batch`), and a commit in SQLite's default mode waits for the disk
    twice: ~40 % of the writer thread's time (py-spy, 400 trials). In WAL mode a commit
    survives a crash of the driver (it is in the log file); only a power cut or an OS crash
    can lose the last ones.
    Readers (`study status`, the MLflow UI) read while the driver writes instead of waiting.
    MLflow indexes its metrics, params and tags by run id, a random uuid, so a run's writes
    touch index pages spread over the whole file, and a 2 MB cache holds few of them once the
    file has grown: `study bench tracking --trials 10000 --epochs 24` logged 400 results/s
    with the default cache, 547 and 643 with this one (two runs; docs/performance.md). A
    connection's cache fills as it reads pages, up to the cap; the writer's connection does
    nearly all the reading.
    WAL is a property of the file, kept by every later connection; the synchronous level is
    per connection, set on each one the engine opens (SQLAlchemy's `connect` event)."""
    from sqlalchemy import event

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened before (MLflow's schema check) get it too


RETRY_DELAYS = (1, 2, 4, 8, 15, 30, 30, 30, 30, 30)  # about 3 minutes in all


# A gateway's answer (502, 503, 504) in the words that carry it: MLflow's "error code 503",
# requests' "503 Server Error", urllib3's "too many 503 error responses", the reason phrase.
# Never the digits alone: a refusal naming run 9d4e0692785045… or experiment 504 is not a
# gateway answering 504.
GATEWAY_STATUS = re.compile(
    r"error code 50[234]\b|\b50[234] (Server Error|error responses)"
    r"|Bad Gateway|Service Unavailable|Gateway Time-?out"
)


def is_transient(exc: BaseException) -> bool:
    """A tracking error worth retrying: the store is unreachable, restarting or locked — not a
    bad request (which would fail again)."""
    text = f"{type(exc).__name__}: {exc}"
    markers = (
        "Connection refused", "Max retries exceeded", "ConnectionError", "RemoteDisconnected",
        "TEMPORARILY_UNAVAILABLE", "database is locked", "Read timed out",
    )  # fmt: skip
    return (isinstance(exc, ConnectionError | TimeoutError)
            or any(m in text for m in markers) or bool(GATEWAY_STATUS.search(text)))  # fmt: skip


def with_retries(
    fn: Any, name: str, *args: Any, delays: tuple[float, ...] = RETRY_DELAYS, **kwargs: Any
) -> Any:
    """`fn(*args, **kwargs)`, retried with backoff on transient errors (`is_transient`)."""
    for delay in (*delays, None):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if delay is None or not is_transient(exc):
                raise
            logger.warning("tracking call %s failed (%s); retrying in %ss", name, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
