"""requirements.lock agrees with pyproject.toml: every dependency (and every dev extra) is
pinned in the lock at a version its specifier allows, and every pin carries hashes, so
`make venv` (`pip install --require-hashes -r requirements.lock`) installs exactly it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins(lock: str) -> dict[str, tuple[str, int]]:
    """name → (version, hashes) of each `name==version \\` entry of a pip-compile lock."""
    out = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", lock):
        head = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)", entry)
        if head:
            out[canonicalize_name(head[1])] = (head[2], entry.count("--hash=sha256:"))
    return out


def disagreements(pyproject: str, lock: str) -> list[str]:
    """What the lock lacks or pins against pyproject.toml's dependencies; pins without hashes."""
    project = tomllib.loads(pyproject)["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pinned = pins(lock)
    wrong = [f"{name}: no hash" for name, (_, hashes) in pinned.items() if hashes == 0]
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if name not in pinned:
            wrong.append(f"{req.name}: not in the lock")
        elif not req.specifier.contains(pinned[name][0], prereleases=True):
            wrong.append(f"{req.name}: locked {pinned[name][0]}, wants {req.specifier}")
    return wrong


def test_the_lock_agrees_with_pyproject() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    assert disagreements((ROOT / "pyproject.toml").read_text(), lock) == []
    assert len(pins(lock)) > 100  # the whole environment, not only the direct dependencies


def test_a_dependency_the_lock_lacks_or_contradicts_is_found() -> None:
    pyproject = ('[project]\ndependencies = ["numpy>=2", "scipy==1.0"]\n'
                 '[project.optional-dependencies]\ndev = ["newpkg"]\n')  # fmt: skip
    lock = ("numpy==2.1.0 \\\n    --hash=sha256:aa\nscipy==1.13.0 \\\n"
            "    --hash=sha256:bb\nsix==1.0\n")  # fmt: skip
    assert disagreements(pyproject, lock) == [
        "six: no hash",
        "scipy: locked 1.13.0, wants ==1.0",
        "newpkg: not in the lock",
    ]
