"""SIGTERM behaves like Ctrl-C in the study driver (standard library `signal`)."""

from __future__ import annotations

import signal
from typing import Any


def terminate_like_interrupt() -> None:
    """SIGTERM (what a cluster scheduler or `kill` sends) does what Ctrl-C does: inside a Tune
    run, Tune's own SIGINT handler stops the trials after a last checkpoint and the study is
    marked as interrupted; a second signal, or one outside Tune, raises KeyboardInterrupt.

    Call it again after `ray.init`: Ray's core installs a handler of its own that exits at once.
    """

    def forward(signum: int, frame: Any) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, forward)
