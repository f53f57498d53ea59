"""cluster.yaml through Ray's own offline validation (the pinned Ray's private API)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

CLUSTER = Path(__file__).parents[2] / "cluster.yaml"


def _validate(config: dict[str, Any]) -> dict[str, Any]:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared: dict[str, Any] = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_cluster_yaml_passes_rays_validation() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    prepared = _validate(config)
    types = prepared["available_node_types"]
    assert prepared["head_node_type"] == "head"
    assert types["gpu_worker"]["resources"]["GPU"] == 1 and types["gpu_worker"]["min_workers"] == 0
    assert types["gpu_worker"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"


def test_only_ssh_is_open_and_servers_bind_to_loopback() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    rules = config["provider"]["security_group"]["IpPermissions"]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(22, 22)]
    assert all(ip["CidrIp"] != "0.0.0.0/0" for r in rules for ip in r["IpRanges"])
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "study server --auth --host 127.0.0.1" in head


def test_the_tracking_credentials_reach_the_head_from_a_file_not_a_command_line() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    assert list(config["file_mounts"]) == ["~/.lossbench/mlflow.env"]
    commands = " ".join(config["head_setup_commands"] + config["head_start_ray_commands"])
    assert "chmod 600 ~/.lossbench/mlflow.env" in commands
    assert "MLFLOW_TRACKING_PASSWORD" not in commands  # only the file holds it


def test_every_node_uses_the_same_auth_mode_and_pinned_versions() -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all(
        "RAY_AUTH_MODE=token" in c
        for c in starts
        if c.startswith("RAY_AUTH_MODE") or "ray start" in c
    )
    setup = " ".join(config["setup_commands"])
    assert "ray[tune]==2.60.0" in setup and "lossbench @ git+" in setup


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(max_wrokers=c.pop("max_workers")),  # typo in a top-level key
        lambda c: c["available_node_types"]["gpu_worker"].update(
            min_wrokers=c["available_node_types"]["gpu_worker"].pop("min_workers")
        ),  # typo in a node type
        lambda c: c.update(head_node_type="nope"),
    ],
    ids=["top-level-typo", "node-type-typo", "unknown-head"],
)
def test_a_typo_fails_validation(mutate: Any) -> None:
    config = yaml.safe_load(CLUSTER.read_text())
    mutate(config)
    import jsonschema

    with pytest.raises((jsonschema.ValidationError, ValueError, KeyError)):
        _validate(config)
