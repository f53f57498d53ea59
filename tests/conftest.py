"""Shared fixtures (fake CIFAR-100 and EMNIST files in the official formats, tiny trial
configs, free ports) and the one lane of `make test`'s workers that runs studies against
deadlines, one at a time."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from study.training.config import TrialConfig
from study.training.data import write_fake_cifar100, write_fake_emnist_letters


@pytest.fixture(scope="session")
def fake_cifar_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_fake_cifar100(root, n_train=1000, n_test=200, seed=0)
    return root


@pytest.fixture(scope="session")
def fake_emnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("emnist")
    write_fake_emnist_letters(root, n_train=520, n_test=104, seed=0)
    return root


# Tests that run whole studies against deadlines (kills, outages, restarts, waits for a
# node or a run): one lane, one at a time, however many pytest-xdist workers share the rest
# (`make test` runs -n auto --dist loadgroup). Two of them at once beside the other tests
# on 2 cores can starve a study past its deadline (seen: no epoch 2 within 300 s).
SERIAL = tuple(
    f"tests/{name}.py"
    for name in (
        "e2e/test_faults", "e2e/test_s3_outage", "e2e/test_multinode", "e2e/test_storage_faults",
        "e2e/test_deleted_experiment", "e2e/test_shared_server", "e2e/test_s3",
        "e2e/test_sequential_study", "tools/test_bench_faults",
    )
)  # fmt: skip


def serial(nodeid: str) -> bool:
    """Whether a test (`tests/e2e/test_s3.py::test_x[1]`) runs in the serial lane."""
    return nodeid.split("::", 1)[0] in SERIAL


# tryfirst: pytest-xdist's own hook of this name reads the `xdist_group` marker into the node
# id that `--dist loadgroup` schedules by; a marker added after it has run is ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if serial(item.nodeid):
            item.add_marker(pytest.mark.xdist_group("studies"))


def pytest_configure(config: pytest.Config) -> None:
    # Each xdist worker is its own process: torch's default of one thread per core, times
    # the workers, oversubscribes the CPU and slows every tiny trial several-fold.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


def tiny_dict(root: Path, **sections: Any) -> dict[str, Any]:
    """A trial config small enough for a CPU test: width 4, 2 epochs on fake CIFAR-100."""
    raw: dict[str, Any] = {
        "data": {"name": "cifar100", "root": str(root)},
        "model": {"width": 4},
        "schedule": {"epochs": 2, "batch_size": 50, "step_size": 1},
        "eval": {"batch_size": 100, "final_window": 2},
        "device": "cpu",
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


@pytest.fixture
def tiny_cfg(fake_cifar_root: Path) -> TrialConfig:
    return TrialConfig.from_dict(tiny_dict(fake_cifar_root))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
