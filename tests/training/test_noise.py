"""Every noise kind against an independent statement of its rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from study.errors import ConfigError, UserError
from study.training.config import TrialConfig
from study.training.data import CIFAR100_FINE_TO_COARSE
from study.training.noise import (
    list_noise_models,
    load_human_labels,
    make_noisy_labels,
    realized_rate,
)

LABELS = np.repeat(np.arange(100), 50)  # balanced, 5,000 samples
COARSE = CIFAR100_FINE_TO_COARSE[LABELS]
SEEDED_KINDS = ["symmetric", "symmetric_incl", "asym_superclass", "asym_block", "pairflip"]


def _noisy(kind: str, rate: float, seed: int = 0, labels: np.ndarray = LABELS) -> np.ndarray:
    return make_noisy_labels(kind, labels, rate, seed, CIFAR100_FINE_TO_COARSE[labels], 100)


def test_registry_lists_every_kind() -> None:
    assert set(list_noise_models()) == {"none", "human", *SEEDED_KINDS}


@pytest.mark.parametrize("rate", [0.2, 0.4, 0.6, 0.8])
def test_symmetric_is_exact_per_class_and_never_keeps_the_label(rate: float) -> None:
    noisy = _noisy("symmetric", rate)
    flipped = noisy != LABELS
    assert realized_rate(LABELS, noisy) == rate
    assert np.bincount(LABELS[flipped], minlength=100).tolist() == [int(rate * 50)] * 100
    assert noisy.min() >= 0 and noisy.max() < 100


def test_symmetric_targets_are_uniform_over_other_classes() -> None:
    labels = np.zeros(100_000, dtype=np.int64)
    noisy = make_noisy_labels("symmetric", labels, 0.5, 0, num_classes=5)
    counts = np.bincount(noisy[noisy != 0], minlength=5)
    assert counts[0] == 0 and np.allclose(counts[1:] / counts[1:].sum(), 0.25, atol=0.01)


def test_symmetric_incl_can_draw_the_own_class() -> None:
    labels = np.zeros(200_000, dtype=np.int64)
    noisy = make_noisy_labels("symmetric_incl", labels, 0.5, 0, num_classes=10)
    # P(changed) = rate · (1 − 1/K) = 0.45
    assert realized_rate(labels, noisy) == pytest.approx(0.45, abs=0.005)
    assert np.allclose(np.bincount(noisy, minlength=10)[1:] / len(noisy), 0.05, atol=0.003)


def test_asym_superclass_flips_to_the_next_class_of_the_real_superclass() -> None:
    noisy = _noisy("asym_superclass", 0.4)
    flipped = noisy != LABELS
    assert realized_rate(LABELS, noisy) == pytest.approx(0.4, abs=0.02)
    assert np.array_equal(CIFAR100_FINE_TO_COARSE[noisy], COARSE)  # never leaves the superclass
    for c in range(100):
        siblings = np.flatnonzero(np.equal(CIFAR100_FINE_TO_COARSE, CIFAR100_FINE_TO_COARSE[c]))
        expected = siblings[(np.searchsorted(siblings, c) + 1) % len(siblings)]
        assert set(noisy[flipped & np.equal(LABELS, c)]) <= {expected}


def test_asym_block_flips_inside_blocks_of_five() -> None:
    noisy = _noisy("asym_block", 0.4)
    flipped = noisy != LABELS
    assert np.array_equal(noisy // 5, LABELS // 5)
    expected = {c: 5 * (c // 5) + (c + 1) % 5 for c in range(100)}
    assert all(noisy[i] == expected[LABELS[i]] for i in np.flatnonzero(flipped))
    # The blocks are not superclasses: e.g. apple(0) → aquarium_fish(1) crosses superclasses.
    assert CIFAR100_FINE_TO_COARSE[0] != CIFAR100_FINE_TO_COARSE[1]


def test_pairflip_goes_to_the_next_index() -> None:
    noisy = _noisy("pairflip", 0.3)
    flipped = noisy != LABELS
    assert np.array_equal(noisy[flipped], (LABELS[flipped] + 1) % 100)
    assert realized_rate(LABELS, noisy) == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize("kind", SEEDED_KINDS)
def test_deterministic_and_seed_dependent(kind: str) -> None:
    a, b, c = _noisy(kind, 0.4, 1), _noisy(kind, 0.4, 1), _noisy(kind, 0.4, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("kind", SEEDED_KINDS)
def test_input_is_not_modified_and_rate_zero_is_identity(kind: str) -> None:
    labels = LABELS.copy()
    assert np.array_equal(_noisy(kind, 0.0, labels=labels), LABELS)
    assert np.array_equal(labels, LABELS)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"noise\.rate"):
        _noisy("symmetric", 1.0)
    with pytest.raises(ConfigError, match="unknown noise kind 'gaussian'"):
        _noisy("gaussian", 0.1)
    with pytest.raises(ConfigError, match="coarse"):
        make_noisy_labels("asym_superclass", LABELS, 0.2, 0, None, 100)


def test_config_refuses_superclass_noise_without_superclasses() -> None:
    with pytest.raises(ConfigError, match="coarse"):
        TrialConfig.from_dict({"data": {"name": "digits"}, "noise": {"kind": "asym_superclass"}})
    with pytest.raises(ConfigError, match=r"noise\.path"):
        TrialConfig.from_dict({"noise": {"kind": "human"}})
    with pytest.raises(ConfigError, match=r"noise\.rate"):
        TrialConfig.from_dict({"noise": {"kind": "human", "rate": 0.4, "path": "x.pt"}})


def write_human_file(path: Path, clean: np.ndarray, noisy: np.ndarray) -> None:
    """Same layout as CIFAR-100N's CIFAR-100_human.pt: a torch.save dict of numpy arrays."""
    torch.save(
        {
            "clean_label": clean.astype(np.int64),
            "noisy_label": noisy.astype(np.int64),
            "clean_coarse_label": CIFAR100_FINE_TO_COARSE[clean],
            "noisy_coarse_label": CIFAR100_FINE_TO_COARSE[noisy],
        },
        path,
    )


def test_human_labels_load_safely(tmp_path: Path) -> None:
    noisy = (LABELS + (np.arange(len(LABELS)) % 5 == 0)) % 100
    path = tmp_path / "CIFAR-100_human.pt"
    write_human_file(path, LABELS, noisy)
    got = make_noisy_labels("human", LABELS, 0.0, 0, COARSE, 100, str(path))
    assert np.array_equal(got, noisy) and realized_rate(LABELS, got) == pytest.approx(0.2)


def test_human_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_human_labels(str(tmp_path / "missing.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="cannot read"):
        load_human_labels(str(bad))
    short = tmp_path / "short.pt"
    write_human_file(short, LABELS[:10], LABELS[:10])
    with pytest.raises(UserError, match="has 10 labels"):
        make_noisy_labels("human", LABELS, 0.0, 0, None, 100, str(short))


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("code ran",))


def test_human_loader_refuses_arbitrary_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"noisy_label": np.zeros(3, dtype=np.int64), "x": _Evil()}, path)
    with pytest.raises(UserError, match="cannot read"):
        load_human_labels(str(path))
