"""Loading a trial's data: a source by name (`study.training.data.registry`), label noise on the
whole training split, subsampling, and the stratified validation holdout. Images stay uint8; the
paper's per-pixel mean subtraction and augmentation are applied per batch by
`study.training.augment`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from study.training.config import DataConfig, NoiseConfig, TrialConfig
from study.training.data.cifar import ensure_available
from study.training.data.emnist import ensure_emnist
from study.training.data.registry import DATASETS, Dataset, Split, stratified_holdout
from study.training.noise import load_human_labels, make_noisy_labels, realized_rate


def load_dataset(cfg: DataConfig, noise: NoiseConfig | None = None) -> Dataset:
    """Load by name, apply label noise to the whole training split (so image i gets the same
    noisy label whatever the subsample or holdout), then subsample and hold out a validation
    split, which keeps its clean labels unless `noise.apply_to_val`. A `noise.seed` of
    `trial` must be resolved first (`NoiseConfig.for_trial`)."""
    train, test, names = DATASETS.get(cfg.name, "data.name").load(cfg)
    if cfg.size is not None:
        train, test = resized(train, cfg.size), resized(test, cfg.size)
    num_classes = len(names)
    mask = None
    if noise is not None and noise.kind != "none":
        clean = train.labels.numpy()
        coarse = None if train.coarse is None else train.coarse.numpy()
        if not isinstance(noise.seed, int):
            raise ValueError(f"noise.seed {noise.seed!r}: resolve it with NoiseConfig.for_trial")
        noisy = make_noisy_labels(
            noise.kind, clean, noise.rate, noise.seed, coarse, num_classes, noise.path
        )
        mask = noisy != clean
        train = replace(train, labels=torch.from_numpy(noisy), clean_labels=train.labels)
    if cfg.n_train is not None:
        train = train.subset(np.arange(min(cfg.n_train, len(train))))
    if cfg.n_test is not None:
        test = test.subset(np.arange(min(cfg.n_test, len(test))))
    val = None
    if cfg.val_fraction > 0:
        truth = train.labels if train.clean_labels is None else train.clean_labels
        keep, held = stratified_holdout(truth.numpy(), cfg.val_fraction, cfg.val_seed)
        train, val = train.subset(keep), train.subset(held)
        if val.clean_labels is not None and not (noise is not None and noise.apply_to_val):
            val = replace(val, labels=val.clean_labels, clean_labels=None)
    rate = 0.0
    if train.clean_labels is not None:
        rate = realized_rate(train.clean_labels.numpy(), train.labels.numpy())
    return Dataset(cfg.name, num_classes, train, test, val, names, rate, mask)


def resized(split: Split, size: int) -> Split:
    """The split's images resized to size × size (bilinear, antialiased when shrinking),
    rounded back to uint8."""
    import torch.nn.functional as F

    if tuple(split.images.shape[-2:]) == (size, size):
        return split
    out = F.interpolate(split.images.float(), size=(size, size), mode="bilinear",
                        align_corners=False, antialias=True)  # fmt: skip
    return replace(split, images=out.round_().clamp_(0, 255).to(torch.uint8))


def preflight(cfg: TrialConfig) -> None:
    """Everything a trial will read exists and is valid: checked on the driver, before any
    trial starts or anything is written (data downloaded here when allowed)."""
    ensure_available(cfg.data)
    if cfg.data.name == "emnist_letters":
        ensure_emnist(cfg.data)
    if cfg.noise.path:
        load_human_labels(cfg.noise.path)
