"""The stored study record: what a study *is*, written to its storage when it starts.

`<storage>/<name>/lossbench_spec.json` holds the spec as resolved on the machine and in the
directory where the study started (absolute data paths, `--set` overrides applied, `extends`
merged), its hash, the tracking URI and when and from which commit it started. `study resume`,
`study status` and `study report --storage` load the study from this record alone, so they
give the same answer from any directory and any node that reaches the storage; nothing is
re-derived from the YAML or from the current directory. Reading a record never creates a file
or a folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from study.coerce import flatten
from study.errors import UserError
from study.orchestration.decisions import EXPECTED_KEY, load_decision
from study.orchestration.spec import StudySpec, spec_from_dict
from study.orchestration.storage import Storage

RECORD_FILE = "lossbench_spec.json"
RECORD_FORMAT = 2


@dataclass(frozen=True)
class StudyRecord:
    spec: StudySpec
    tracking_uri: str
    created: str = ""
    git_sha: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def spec_hash(self) -> str:
        return self.spec.spec_hash()

    def to_json(self) -> str:
        from study.orchestration.stages import expected_trials

        return json.dumps(
            {
                "format": RECORD_FORMAT,
                "name": self.name,
                "spec_hash": self.spec_hash,
                "tracking_uri": self.tracking_uri,
                "expected": expected_trials(self.spec),  # trials per stage
                "created": self.created,
                "git_sha": self.git_sha,
                "spec": self.spec.to_dict(),
                # the YAML's sections with `base` replaced by the resolved trial config: what
                # `spec_from_dict` rebuilds the same spec from, wherever it is read
                "resolved": resolved_raw(self.spec),
            },
            indent=2,
            default=str,
        )


def resolved_raw(spec: StudySpec) -> dict[str, Any]:
    raw = {k: v for k, v in spec.raw.items() if k != "extends"}
    raw["base"] = spec.base.to_dict()
    return json.loads(json.dumps(raw, default=str))


def new_record(spec: StudySpec, tracking_uri: str) -> StudyRecord:
    from study.orchestration.run_tags import git_sha

    return StudyRecord(spec, tracking_uri, f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}", git_sha())


def has_record(storage: Storage, name: str) -> bool:
    return storage.exists(name, RECORD_FILE)


def load_record(storage: Storage, name: str) -> StudyRecord:
    """The study `name` as stored in `storage`; a clear error when there is none."""
    if not has_record(storage, name):
        raise UserError(
            f"name: no study {name!r} in {storage} (no {storage.uri(name, RECORD_FILE)}); "
            f"give the --storage the study was started with"
        )
    source = storage.uri(name, RECORD_FILE)
    stored = json.loads(storage.read_text(name, RECORD_FILE))
    if stored.get("format") != RECORD_FORMAT:  # first-round record: raw YAML only
        spec = spec_from_dict(stored["raw"], stored.get("overrides"), source=source)
        return StudyRecord(spec, stored.get("tracking_uri", ""))
    spec = spec_from_dict(stored["resolved"], source=source)
    if spec.spec_hash() != stored["spec_hash"]:
        changed = spec_diff(stored["spec"], spec.to_dict())
        raise UserError(
            f"{source}: this version of lossbench rebuilds study {name!r} differently from how "
            f"it was stored (differs at {'; '.join(changed[:5])}); resume it with the "
            f"version it was started with (commit {stored.get('git_sha', '?')})"
        )
    return StudyRecord(spec, stored["tracking_uri"], stored["created"], stored["git_sha"])


@dataclass(frozen=True)
class StoredStudy:
    """What `study status` needs, read from the record without rebuilding (and validating)
    the spec, which would import the data and loss registries (and torch): a second saved."""

    name: str
    spec_hash: str
    tracking_uri: str
    expected: dict[str, int]


def stored_study(storage: Storage, name: str) -> StoredStudy:
    """The trials expected per stage are the runner's latest count given the stages'
    decisions (a sequential stage stops decided comparisons), else the record's worst case."""
    if has_record(storage, name):
        stored = json.loads(storage.read_text(name, RECORD_FILE))
        if stored.get("format") == RECORD_FORMAT and "expected" in stored:
            latest = load_decision(storage, name, EXPECTED_KEY)
            expected = dict(latest if latest is not None else stored["expected"])
            return StoredStudy(name, stored["spec_hash"], stored["tracking_uri"], expected)
    from study.orchestration.stages import expected_trials

    record = load_record(storage, name)  # an older record, or a clear error
    return StoredStudy(name, record.spec_hash, record.tracking_uri, expected_trials(record.spec))


def save_record(storage: Storage, record: StudyRecord) -> None:
    storage.write_text(record.to_json(), record.name, RECORD_FILE)


def spec_diff(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`key: stored → now` for every dotted key whose value differs (JSON-normalised)."""
    old = flatten(json.loads(json.dumps(stored, default=str)))
    new = flatten(json.loads(json.dumps(current, default=str)))
    return [
        f"{key}: {old.get(key, '<absent>')!r} (stored) → {new.get(key, '<absent>')!r} (now)"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def check_same_spec(storage: Storage, spec: StudySpec) -> None:
    """`study run` of a name that exists: resume it if the spec is the stored one, else refuse
    with the keys that differ; never suggest deleting the folder, which holds checkpoints."""
    if not has_record(storage, spec.name):
        return
    stored = json.loads(storage.read_text(spec.name, RECORD_FILE))
    changed = spec_diff(stored.get("spec", {}), spec.to_dict())
    if changed:
        more = f"; and {len(changed) - 5} more" if len(changed) > 5 else ""
        shown = "; ".join(changed[:5]) + more
        raise UserError(
            f"name: study {spec.name!r} already exists in {storage.uri(spec.name)} with another "
            f"spec (differs at {shown}). To continue the stored study: `study resume "
            f"{spec.name} --storage {storage}`; to run this spec as a new study, give it "
            f"another name (the stored study and its checkpoints stay as they are)"
        )


def open_study(storage: Storage, spec: StudySpec, tracking_uri: str) -> StudyRecord:
    """The record `run` and `resume` both go through: a new study's record is written; a
    stored one must have the same spec (else a clear refusal) and is written again with its
    creation time and commit kept and the tracking URI it now uses (a moved server: `study
    status` finds the runs where they now are), which also brings an older record up to
    date."""
    check_same_spec(storage, spec)
    if not has_record(storage, spec.name):
        record = new_record(spec, tracking_uri)
    else:
        stored = load_record(storage, spec.name)
        record = StudyRecord(stored.spec, tracking_uri, stored.created, stored.git_sha)
    save_record(storage, record)
    return record
