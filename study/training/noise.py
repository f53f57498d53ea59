"""Label-noise models by name.

Entry point: `make_noisy_labels(kind, labels, rate, seed, coarse_labels=None, num_classes=100,
path=None) -> int64 array`. Pure: the same arguments give the same labels. A trial draws with
`NoiseConfig.draw_seed` (its own `seed` under the default `noise.seed: trial`), so losses
compared at one seed see the same noisy labels and replicates see independent draws. Noise is
applied to the training split only (see `study.training.data.load_dataset`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.errors import ConfigError, UserError
from study.registry import Registry


@dataclass(frozen=True)
class Draw:
    """One noise draw's inputs: labels (int64, a copy the rule may modify), rate, the seeded
    generator, coarse labels where the dataset has them, number of classes, file path."""

    labels: np.ndarray
    rate: float
    rng: np.random.Generator
    coarse: np.ndarray | None
    k: int
    path: str | None


NoiseFn = Callable[[Draw], np.ndarray]


@dataclass(frozen=True)
class NoiseModel:
    fn: NoiseFn
    needs_coarse: bool = False  # needs superclass labels (CIFAR-100)
    needs_path: bool = False  # reads a user-supplied file; `rate` must stay 0


NOISE_MODELS: Registry[NoiseModel] = Registry("noise kind")


def _noise(
    name: str, needs_coarse: bool = False, needs_path: bool = False
) -> Callable[[NoiseFn], NoiseFn]:
    def decorator(fn: NoiseFn) -> NoiseFn:
        NOISE_MODELS.register(name)(NoiseModel(fn, needs_coarse, needs_path))
        return fn

    return decorator


def list_noise_models() -> list[str]:
    return NOISE_MODELS.names()


def check_noise(kind: str, rate: float, path: str | None, has_coarse: bool) -> None:
    """Config-time checks (before any data is read): known kind, rate, path, coarse labels."""
    model = NOISE_MODELS.get(kind, "noise.kind")
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"noise.rate: invalid value {rate!r} (allowed: in [0, 1))")
    if model.needs_coarse and not has_coarse:
        raise ConfigError(
            f"noise.kind: {kind!r} needs superclass (coarse) labels and this dataset has none "
            f"(use cifar100, or asym_block / pairflip)"
        )
    if model.needs_path:
        if not path:
            raise ConfigError(f"noise.path: kind {kind!r} needs the path of its labels file")
        if rate != 0.0:
            raise ConfigError(
                f"noise.rate: invalid value {rate!r} for kind {kind!r} (allowed: 0; the file "
                f"fixes the noise)"
            )
    elif path:
        raise ConfigError(f"noise.path: only used by kind 'human', not {kind!r}")


def make_noisy_labels(
    kind: str,
    labels: np.ndarray,
    rate: float,
    seed: int,
    coarse_labels: np.ndarray | None = None,
    num_classes: int = 100,
    path: str | None = None,
) -> np.ndarray:
    """Noisy copy of `labels` (int64); the input is never modified."""
    check_noise(kind, rate, path, coarse_labels is not None)
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    fn = NOISE_MODELS.get(kind, "noise.kind").fn
    draw = Draw(labels.copy(), rate, rng, coarse_labels, num_classes, path)
    return np.asarray(fn(draw), np.int64)


def realized_rate(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Share of samples whose label changed."""
    return float(np.mean(np.asarray(clean) != np.asarray(noisy))) if len(clean) else 0.0


@_noise("none")
def _none(d: Draw) -> np.ndarray:
    """Labels unchanged."""
    return d.labels


@_noise("symmetric")
def _symmetric(d: Draw) -> np.ndarray:
    """APL / SCE convention: exactly ⌊rate·n_c⌋ samples of each class c, drawn without
    replacement, get a label uniform over the other K−1 classes (realised rate = nominal rate
    on balanced data)."""
    noisy = d.labels.copy()
    for c in np.unique(d.labels):
        members = np.flatnonzero(d.labels == c)
        flip = d.rng.choice(members, size=int(np.floor(d.rate * len(members))), replace=False)
        draw = d.rng.integers(0, d.k - 1, size=len(flip))  # uniform over K−1: skip c itself
        noisy[flip] = draw + (draw >= c)
    return noisy


@_noise("symmetric_incl")
def _symmetric_incl(d: Draw) -> np.ndarray:
    """DivideMix convention: each sample with probability `rate` gets a label uniform over all
    K classes, its own included (realised rate ≈ rate·(1 − 1/K))."""
    hit = d.rng.random(len(d.labels)) < d.rate
    draw = d.rng.integers(0, d.k, size=len(d.labels))
    return np.where(hit, draw, d.labels)


def _flip_with_map(d: Draw, target: np.ndarray) -> np.ndarray:
    """With probability `rate`, class c → target[c]."""
    hit = d.rng.random(len(d.labels)) < d.rate
    return np.where(hit, target[d.labels], d.labels)


@_noise("asym_superclass", needs_coarse=True)
def _asym_superclass(d: Draw) -> np.ndarray:
    """With probability `rate`, a sample's class flips to the next fine class (by index,
    circularly) of its own *real* CIFAR-100 superclass, read from the coarse labels."""
    assert d.coarse is not None  # guaranteed by check_noise
    coarse = np.asarray(d.coarse, dtype=np.int64)
    target = np.arange(d.k)
    for s in np.unique(coarse):
        members = np.unique(d.labels[coarse == s])
        if np.any(np.isin(members, d.labels[coarse != s])):
            raise UserError("noise.kind: a fine class appears under two superclasses")
        target[members] = np.roll(members, -1)  # members are sorted: next index, circularly
    return _flip_with_map(d, target)


@_noise("asym_block")
def _asym_block(d: Draw) -> np.ndarray:
    """The convention of the public SCE / APL code: with probability `rate`, class c flips to
    the next class inside its block of 5 consecutive indices, circularly (4 → 0, 9 → 5, ...).

    Those blocks are NOT CIFAR-100's real superclasses (see `asym_superclass`); this kind is
    kept only for comparability with published numbers.
    """
    c = np.arange(d.k)
    target = 5 * (c // 5) + (c % 5 + 1) % 5
    target = np.where(target < d.k, target, 5 * (c // 5))  # a last, partial block wraps too
    return _flip_with_map(d, target)


@_noise("pairflip")
def _pairflip(d: Draw) -> np.ndarray:
    """With probability `rate`, c → (c + 1) mod K (Han et al. 2018, Co-teaching)."""
    return _flip_with_map(d, (np.arange(d.k) + 1) % d.k)


@_noise("human", needs_path=True)
def _human(d: Draw) -> np.ndarray:
    """CIFAR-100N's human labels (Wei et al. 2022): `noisy_label` of `CIFAR-100_human.pt`
    (about 40.2 % noise), in torchvision's training order. `rate` must be 0."""
    assert d.path is not None  # guaranteed by check_noise
    human = load_human_labels(d.path)
    noisy, clean = human["noisy_label"], human.get("clean_label")
    if len(noisy) != len(d.labels):
        raise UserError(
            f"noise.path: {d.path} has {len(noisy)} labels, the training split has {len(d.labels)}"
        )
    if clean is not None and not np.array_equal(clean, d.labels):
        raise UserError(f"noise.path: clean_label in {d.path} does not match the training labels")
    if noisy.min() < 0 or noisy.max() >= d.k:
        raise UserError(f"noise.path: labels in {d.path} are outside [0, {d.k})")
    return noisy


def load_human_labels(path: str) -> dict[str, np.ndarray]:
    """Read a CIFAR-N `.pt` file without allowing arbitrary code: `weights_only=True` with only
    numpy's array-reconstruction globals allowed (under both numpy 1 and numpy 2 names)."""
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"noise.path: no such file {file} (CIFAR-100N's CIFAR-100_human.pt)")
    reconstruct = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
    allowed: list[object] = [
        reconstruct,
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        *(type(np.dtype(t)) for t in ("int64", "int32", "int16", "uint8", "bool")),
    ]
    try:
        with torch.serialization.safe_globals(allowed):  # type: ignore[arg-type]
            raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, refused globals, not a torch file
        msg = str(exc).splitlines()[0]
        raise UserError(f"noise.path: cannot read {file} safely: {msg}") from exc
    if not isinstance(raw, dict) or "noisy_label" not in raw:
        raise UserError(f"noise.path: {file} has no 'noisy_label' entry")
    out = {}
    for key, value in raw.items():
        arr = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        out[str(key)] = np.asarray(arr).astype(np.int64)
    return out
