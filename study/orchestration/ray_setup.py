"""Ray started (or joined) for a study's driver, quietly: Ray logs at WARNING, so the console
shows the study's own lines, and Ray's token authentication is said once, in lossbench's
words, when a local start generates a token.

A local Ray 2.60 turns token authentication on by default and warns so at every start
(`RAY_AUTH_MODE` unset), and logs where it saved a new token: its authentication module's
logger is held to errors, and a new token is said in one line. Ray's mode itself is left as
Ray and the user set it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from study.orchestration.signals import terminate_like_interrupt

AUTH_MODE = "RAY_AUTH_MODE"
AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


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
    logging.getLogger(AUTH_LOGGER).setLevel(logging.ERROR)
    if address:
        ray.init(address=address, log_to_driver=True, logging_level=logging.WARNING)
    else:
        new_token = not ray_token_path().exists()
        ray.init(address="local", include_dashboard=False, log_to_driver=True,
                 logging_level=logging.WARNING)  # fmt: skip
        if new_token and ray_token_path().exists():
            print(f"Local Ray with token authentication: its new token is {ray_token_path()} "
                  f"(set {AUTH_MODE}=disabled to run without)", flush=True)  # fmt: skip
    terminate_like_interrupt()  # ray.init replaced our SIGTERM handler with one that exits
