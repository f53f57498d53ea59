"""Ray started (or joined) for a study's driver, quietly: Ray logs at WARNING, so the console
shows the study's own lines, and Ray's token authentication is said once, in lossbench's
words, when a local start generates a token.

A local Ray 2.60 turns token authentication on by default and warns so at every start
(`RAY_AUTH_MODE` unset), and logs where it saved a new token. Here the mode is set explicitly
(`RAY_AUTH_MODE=token`, what the default does, without the warning) unless the user set it;
a cluster joined with `--address` keeps its own mode.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from study.orchestration.signals import terminate_like_interrupt

AUTH_MODE = "RAY_AUTH_MODE"


def ray_token_path() -> Path:
    """Where Ray keeps its default token (`ray._private.authentication`: `~/.ray/auth_token`)."""
    return Path.home() / ".ray" / "auth_token"


def init_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    # Trials run in Ray workers whose cwd is a scratch folder: every path we hand them is
    # absolute already; keep the worker's cwd where the driver was for anything else.
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    if address:
        ray.init(address=address, log_to_driver=True, logging_level=logging.WARNING)
    else:
        new_token = AUTH_MODE not in os.environ and not ray_token_path().exists()
        os.environ.setdefault(AUTH_MODE, "token")
        ray.init(address="local", include_dashboard=False, log_to_driver=True,
                 logging_level=logging.WARNING)  # fmt: skip
        if new_token and ray_token_path().exists():
            print(f"Local Ray with token authentication: its new token is {ray_token_path()} "
                  f"(set {AUTH_MODE}=disabled to run without)", flush=True)  # fmt: skip
    terminate_like_interrupt()  # ray.init replaced our SIGTERM handler with one that exits
