from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from study.errors import UserError
from study.training.augment import normalize, random_crop, random_flip, train_batches
from study.training.config import DataConfig, NoiseConfig
from study.training.data import (
    CIFAR100_FINE_TO_COARSE,
    ensure_available,
    load_dataset,
    stratified_holdout,
    write_fake_cifar100,
)

NONE = DataConfig(crop_padding=0, flip=False)  # no augmentation


def test_fake_files_have_the_official_format(fake_cifar_root: Path) -> None:
    folder = fake_cifar_root / "cifar-100-python"
    with (folder / "train").open("rb") as fh:
        raw = pickle.load(fh, encoding="latin1")
    assert set(raw) >= {"data", "fine_labels", "coarse_labels", "filenames"}
    assert raw["data"].dtype == np.uint8 and raw["data"].shape == (1000, 3072)
    fine = np.array(raw["fine_labels"])
    assert np.array_equal(np.array(raw["coarse_labels"]), CIFAR100_FINE_TO_COARSE[fine])
    with (folder / "meta").open("rb") as fh:
        meta = pickle.load(fh, encoding="latin1")
    assert len(meta["fine_label_names"]) == 100
    assert len(meta["coarse_label_names"]) == 20
    # the reader takes the class names from the archive's own meta
    ds = load_dataset(DataConfig(name="cifar100", root=str(fake_cifar_root)))
    assert ds.class_names == tuple(meta["fine_label_names"])


def test_reader_reads_the_pickles_unchanged(fake_cifar_root: Path) -> None:
    with (fake_cifar_root / "cifar-100-python" / "test").open("rb") as fh:
        raw = pickle.load(fh, encoding="latin1")
    ds = load_dataset(DataConfig(name="cifar100", root=str(fake_cifar_root)))
    assert ds.num_classes == 100 and len(ds.train) == 1000 and len(ds.test) == 200
    row = raw["data"][7]
    # R plane first, then G, then B, each 32×32 row-major
    assert torch.equal(ds.test.images[7, 0].flatten(), torch.from_numpy(row[:1024].copy()))
    assert torch.equal(ds.test.images[7, 2].flatten(), torch.from_numpy(row[2048:].copy()))
    assert ds.test.labels.tolist() == raw["fine_labels"]
    assert ds.test.coarse is not None and ds.test.coarse.tolist() == raw["coarse_labels"]


def test_missing_data_names_the_path_and_the_fix(tmp_path: Path) -> None:
    cfg = DataConfig(name="cifar100", root=str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=r"cifar-100-python.*data\.download: true"):
        ensure_available(cfg)
    assert not (tmp_path / "nowhere").exists()  # nothing created


def test_digits_is_real_offline_data() -> None:
    ds = load_dataset(DataConfig(name="digits"))
    assert ds.num_classes == 10 and ds.train.images.shape[1:] == (1, 8, 8)
    assert ds.class_names == tuple("0123456789")
    assert len(ds.train) + len(ds.test) == 1797
    assert ds.train.images.dtype == torch.uint8 and int(ds.train.images.max()) == 255


def test_holdout_is_stratified_seeded_and_disjoint() -> None:
    labels = np.repeat(np.arange(10), 20)
    keep, held = stratified_holdout(labels, 0.1, seed=3)
    assert len(held) == 20 and np.bincount(labels[held]).tolist() == [2] * 10
    assert not set(keep) & set(held) and len(keep) + len(held) == 200
    assert np.array_equal(held, stratified_holdout(labels, 0.1, seed=3)[1])
    assert not np.array_equal(held, stratified_holdout(labels, 0.1, seed=4)[1])


def test_validation_split_comes_from_train(fake_cifar_root: Path) -> None:
    ds = load_dataset(DataConfig(root=str(fake_cifar_root), val_fraction=0.2))
    assert ds.val is not None and len(ds.val) == 200 and len(ds.train) == 800


def test_noise_changes_train_labels_only(fake_cifar_root: Path) -> None:
    clean = load_dataset(DataConfig(root=str(fake_cifar_root)))
    noisy = load_dataset(
        DataConfig(root=str(fake_cifar_root)), NoiseConfig(kind="symmetric", rate=0.4, seed=1)
    )
    assert torch.equal(noisy.test.labels, clean.test.labels)
    assert noisy.train.clean_labels is not None
    assert torch.equal(noisy.train.clean_labels, clean.train.labels)
    assert noisy.noise_realized_rate == 0.4  # exact: 4 of the 10 samples of each class


def test_pairs_share_the_noise_draw_and_replicates_do_not(fake_cifar_root: Path) -> None:
    from study.training.config import TrialConfig

    def mask(loss: str, seed: int) -> np.ndarray:
        cfg = TrialConfig.from_dict(
            {"data": {"root": str(fake_cifar_root)}, "loss": {"name": loss}, "seed": seed,
             "noise": {"kind": "symmetric", "rate": 0.4, "seed": "trial"}}
        )  # fmt: skip
        ds = load_dataset(cfg.data, cfg.noise.for_trial(cfg.seed))
        assert ds.noise_mask is not None
        return ds.noise_mask

    assert np.array_equal(mask("ce", 1), mask("lace", 1))  # a pair: same flipped labels
    assert not np.array_equal(mask("ce", 1), mask("ce", 2))  # replicates: independent draws
    with pytest.raises(ValueError, match="for_trial"):
        load_dataset(DataConfig(root=str(fake_cifar_root)), NoiseConfig(kind="symmetric", rate=0.4))


def test_mean_image_is_per_pixel(fake_cifar_root: Path) -> None:
    ds = load_dataset(DataConfig(root=str(fake_cifar_root)))
    mean = ds.mean_image()
    assert mean.shape == (3, 32, 32)
    expected = ds.train.images[:, 1, 5, 9].double().mean() / 255
    assert mean[1, 5, 9].item() == pytest.approx(expected.item(), rel=1e-6)


def test_crop_is_a_window_of_the_zero_padded_image() -> None:
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    out = random_crop(images, gen, 2)
    replay = torch.Generator().manual_seed(0)
    dy = torch.randint(0, 5, (16,), generator=replay)
    dx = torch.randint(0, 5, (16,), generator=replay)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(16):
        window = padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8]
        assert torch.equal(out[i], window)


def test_flip_mirrors_about_half_the_batch() -> None:
    images = torch.randint(0, 256, (400, 1, 4, 4), dtype=torch.uint8)
    out = random_flip(images, torch.Generator().manual_seed(1))
    pairs = list(zip(out, images, strict=True))
    flipped = [torch.equal(o, i.flip(2)) and not torch.equal(o, i) for o, i in pairs]
    kept = [torch.equal(o, i) for o, i in pairs]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 150 < sum(flipped) < 250


def test_epoch_visits_every_sample_once() -> None:
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.arange(10)
    gen = torch.Generator().manual_seed(0)
    seen = [y for _, y in train_batches(images, labels, 3, gen, torch.zeros(1, 1, 1), NONE)]
    assert sorted(torch.cat(seen).tolist()) == list(range(10))


def test_normalize_subtracts_the_mean_image() -> None:
    x = torch.full((2, 1, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(normalize(x, torch.full((1, 2, 2), 0.25)), torch.full((2, 1, 2, 2), 0.75))


def test_writer_is_seeded(tmp_path: Path) -> None:
    a = write_fake_cifar100(tmp_path / "a", 50, 10, seed=5)
    b = write_fake_cifar100(tmp_path / "b", 50, 10, seed=5)
    assert (a / "train").read_bytes() == (b / "train").read_bytes()


def test_validation_keeps_clean_labels_unless_asked(fake_cifar_root: Path) -> None:
    data = DataConfig(root=str(fake_cifar_root), val_fraction=0.2)
    clean = load_dataset(data)
    noisy = load_dataset(data, NoiseConfig(kind="pairflip", rate=0.5, seed=0))
    both = load_dataset(data, NoiseConfig(kind="pairflip", rate=0.5, seed=0, apply_to_val=True))
    assert clean.val is not None and noisy.val is not None and both.val is not None
    assert torch.equal(noisy.val.labels, clean.val.labels)  # same holdout, clean labels
    assert not torch.equal(both.val.labels, clean.val.labels)
    assert noisy.train.clean_labels is not None
    assert torch.equal(noisy.train.clean_labels, clean.train.labels)
