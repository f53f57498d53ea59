"""A remote storage (S3, GCS) that goes away for a while: its calls wait and retry with
backoff, up to a bound (`LOSSBENCH_STORAGE_RETRY_S`, default 300 s), and say so in one
warning line per outage and process, not per call; past the bound the call raises
`StorageUnreachable`, and the study stops (`study.orchestration.stops`) for `study resume`.
What counts as unreachable is the words of pyarrow's S3 errors (the AWS SDK's
NETWORK_CONNECTION, curl's "Couldn't connect", 503 SlowDown...), not a refused request.
The standard library's `time` and `logging` do the work."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
BOUND_VAR = "LOSSBENCH_STORAGE_RETRY_S"
DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)  # then every 15 s, until the bound
UNREACHABLE = (
    "NETWORK_CONNECTION", "Couldn't connect", "Connection refused", "Connection reset",
    "curlCode: 7", "curlCode: 28", "curlCode: 52", "curlCode: 56", "timed out",
    "SERVICE_UNAVAILABLE", "SLOW_DOWN", "INTERNAL_FAILURE", "Unable to connect",
)  # fmt: skip

_outages: dict[str, float] = {}  # storage root -> when this process first met its outage


class StorageUnreachable(OSError):
    """A storage that stayed unreachable past the bound."""


def is_unreachable(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and any(w in str(exc) for w in UNREACHABLE)


def bound() -> float:
    return float(os.environ.get(BOUND_VAR, "300"))


def through_outage(root: str, fn: Callable[[], T], clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> T:  # fmt: skip
    """`fn()`, retried while `root` is unreachable, up to `bound()` seconds of outage."""
    tries = 0
    while True:
        try:
            result = fn()
        except OSError as exc:
            if not is_unreachable(exc):
                raise
            if root not in _outages:  # the first failed call of this outage says it
                _outages[root] = clock()
                logger.warning("storage %s unreachable (%s); retrying for up to %.0f s",
                               root, str(exc).splitlines()[0], bound())  # fmt: skip
            waited = clock() - _outages[root]
            if waited >= bound():
                raise StorageUnreachable(
                    f"storage {root} unreachable for {waited:.0f} s (the bound, "
                    f"{BOUND_VAR}): {str(exc).splitlines()[0]}"
                ) from exc
            sleep(min(DELAYS[min(tries, len(DELAYS) - 1)], max(0.0, bound() - waited)))
            tries += 1
            continue
        _outages.pop(root, None)  # reachable again: the next outage gets its own line
        return result
