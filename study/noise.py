"""Label-noise models by name: pure functions `(labels, rate, rng, coarse, K) -> noisy labels`.

Entry point: `make_noisy_labels(kind, labels, rate, seed, coarse_labels=None, num_classes=100)`.
The draw depends only on its arguments (`noise.seed`, not the training seed), so losses compared
at the same seed see the same noisy labels. Noise applies to the training split only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from study.errors import ConfigError
from study.registry import Registry

NoiseFn = Callable[[np.ndarray, float, np.random.Generator, "np.ndarray | None", int], np.ndarray]
NOISE_MODELS: Registry[NoiseFn] = Registry("noise kind")


def list_noise_models() -> list[str]:
    return NOISE_MODELS.names()


def make_noisy_labels(
    kind: str,
    labels: np.ndarray,
    rate: float,
    seed: int,
    coarse_labels: np.ndarray | None = None,
    num_classes: int = 100,
) -> np.ndarray:
    """Noisy copy of `labels` (int64); the input is never modified."""
    fn = NOISE_MODELS.get(kind, "noise.kind")
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"noise.rate: invalid value {rate!r} (allowed: in [0, 1))")
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.asarray(fn(labels.copy(), rate, rng, coarse_labels, num_classes), dtype=np.int64)


def realized_rate(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Share of samples whose label changed."""
    return float(np.mean(np.asarray(clean) != np.asarray(noisy))) if len(clean) else 0.0


@NOISE_MODELS.register("none")
def _none(
    labels: np.ndarray, rate: float, rng: np.random.Generator, coarse: np.ndarray | None, k: int
) -> np.ndarray:
    """Labels unchanged."""
    return labels


@NOISE_MODELS.register("symmetric")
def _symmetric(
    labels: np.ndarray, rate: float, rng: np.random.Generator, coarse: np.ndarray | None, k: int
) -> np.ndarray:
    """APL / SCE convention: exactly ⌊rate·n_c⌋ samples of each class c, drawn without
    replacement, get a label uniform over the other K−1 classes (realised rate = nominal rate on
    balanced data)."""
    noisy = labels.copy()
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        flip = rng.choice(members, size=int(np.floor(rate * len(members))), replace=False)
        # uniform over the K−1 other classes: draw from K−1 and skip c
        draw = rng.integers(0, k - 1, size=len(flip))
        noisy[flip] = draw + (draw >= c)
    return noisy
