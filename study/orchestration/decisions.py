"""The decisions of a study's stages, part of its stored record (`study.orchestration.record`):
`<storage>/<name>/decisions/<key>.json`, written once when a stage decides (the `tune` stage's
winners, a sequential comparison's verdict at a look) and read back on every restart, so that a
resumed study never decides differently. Writes are atomic (`Storage.write_text`); reading
never creates anything.
"""

from __future__ import annotations

import json
from typing import Any

from study import contract as c
from study.orchestration.storage import Storage

FOLDER = c.DECISIONS_FOLDER
EXPECTED_KEY = c.EXPECTED_KEY  # trials per stage given the decisions so far (`study status`)


def load_decision(storage: Storage, study: str, key: str) -> Any | None:
    if storage.exists(study, FOLDER, f"{key}.json"):
        return json.loads(storage.read_text(study, FOLDER, f"{key}.json"))
    return None


def save_decision(storage: Storage, study: str, key: str, value: Any) -> None:
    storage.write_text(c.decision_text(value), study, FOLDER, f"{key}.json")
