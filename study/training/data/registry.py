"""The dataset registry and the types every source returns: `Split` (uint8 N×C×H×W images
and int64 labels) and `Dataset`. A source is one module of `study.training.data` that registers a
loader with `dataset(name, n_train, n_test)`; the config validates names against `DATASETS`
(this module imports no config: the config imports it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from study.registry import Registry


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8, N×C×H×W
    labels: torch.Tensor  # int64, N (noisy labels for a noisy training split)
    coarse: torch.Tensor | None = None  # int64, N, where the dataset has superclasses
    clean_labels: torch.Tensor | None = None  # set when label noise was applied

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: np.ndarray) -> Split:
        idx = torch.as_tensor(index, dtype=torch.long)
        return Split(
            self.images[idx],
            self.labels[idx],
            None if self.coarse is None else self.coarse[idx],
            None if self.clean_labels is None else self.clean_labels[idx],
        )


@dataclass(frozen=True)
class Dataset:
    name: str
    num_classes: int
    train: Split
    test: Split
    val: Split | None = None
    class_names: tuple[str, ...] = ()
    noise_realized_rate: float = 0.0  # on the training split actually trained on
    noise_mask: np.ndarray | None = None  # flipped samples of the full training split

    def mean_image(self) -> torch.Tensor:
        """Per-pixel mean of the training split in [0, 1] units (C×H×W), as in the paper."""
        return self.train.images.double().mean(dim=0).div(255.0).float()


# A loader takes the trial's `DataConfig` and returns train, test and the class names (from
# the files' own metadata where they have it).
Loader = Callable[[Any], tuple[Split, Split, tuple[str, ...]]]


@dataclass(frozen=True)
class DatasetSource:
    load: Loader
    has_coarse: bool = False  # superclass labels, needed by superclass noise
    n_train: int = 0  # full split sizes, for `study plan` (no data is read to plan)
    n_test: int = 0


DATASETS: Registry[DatasetSource] = Registry("dataset")


def dataset(
    name: str, n_train: int, n_test: int, has_coarse: bool = False
) -> Callable[[Loader], Loader]:
    def decorator(fn: Loader) -> Loader:
        DATASETS.register(name)(DatasetSource(fn, has_coarse, n_train, n_test))
        return fn

    return decorator


def list_datasets() -> list[str]:
    return DATASETS.names()


def stratified_holdout(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out): round(fraction·n_c) of each class c, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        held.append(rng.choice(members, size=round(fraction * len(members)), replace=False))
    held_idx = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    keep_idx = np.setdiff1d(np.arange(len(labels)), held_idx)
    return keep_idx, held_idx
