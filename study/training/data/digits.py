"""The digits source: scikit-learn's bundled 8×8 handwritten digits (1,797 real images that
ship offline, UCI ML hand-written digits), 16 grey levels scaled to uint8."""

from __future__ import annotations

import numpy as np
import torch

from study.training.config import DataConfig
from study.training.data.registry import Split, dataset, stratified_holdout


@dataset("digits", 1_347, 450)
def _load_digits(cfg: DataConfig) -> tuple[Split, Split, tuple[str, ...]]:
    """A fixed stratified 75/25 train/test split (seed 0, independent of the trial seed)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    keep, test_idx = stratified_holdout(labels, 0.25, seed=0)
    full = Split(torch.from_numpy(images), torch.from_numpy(labels))
    return full.subset(keep), full.subset(test_idx), tuple(str(n) for n in bunch.target_names)
