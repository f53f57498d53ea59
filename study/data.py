"""Datasets by name, the paper's preprocessing, and a fake CIFAR-100 writer for tests.

Images are kept as uint8 N×C×H×W tensors; per-pixel mean subtraction (the mean image of the
training split, in [0, 1] units) and the augmentation (random crop with zero padding, horizontal
flip) are applied per batch by `study.augment`, so the same code runs on the CPU and the GPU.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from study.config import DataConfig, NoiseConfig, TrialConfig
from study.errors import UserError
from study.noise import load_human_labels, make_noisy_labels, realized_rate
from study.registry import Registry

# Fine → coarse map of CIFAR-100 in the standard (alphabetical) fine-label order.
CIFAR100_FINE_TO_COARSE = np.array(
    (
        "4 1 14 8 0 6 7 7 18 3 3 14 9 18 7 11 3 9 7 11 6 11 5 10 7 6 13 15 3 15 0 11 1 10 12 14 16 "
        "9 11 5 5 19 8 8 15 13 14 17 18 10 16 4 17 4 2 0 17 4 18 17 10 3 2 12 12 16 12 1 9 19 2 10 "
        "0 1 16 12 9 13 15 13 16 19 2 4 6 19 5 5 8 19 18 1 2 15 6 0 17 8 14 13"
    ).split(),
    dtype=np.int64,
)
CIFAR100_FINE_NAMES = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
]
CIFAR100_COARSE_NAMES = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
]


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
    noise_realized_rate: float = 0.0  # on the training split actually trained on
    noise_mask: np.ndarray | None = None  # flipped samples of the full training split

    def mean_image(self) -> torch.Tensor:
        """Per-pixel mean of the training split in [0, 1] units (C×H×W), as in the paper."""
        return self.train.images.double().mean(dim=0).div(255.0).float()


Loader = Callable[[DataConfig], tuple[Split, Split, int]]


@dataclass(frozen=True)
class DatasetSource:
    load: Loader
    has_coarse: bool = False  # superclass labels, needed by superclass noise
    n_train: int = 0  # full split sizes, for `study plan` (no data is read to plan)
    n_test: int = 0


DATASETS: Registry[DatasetSource] = Registry("dataset")


def _dataset(
    name: str, n_train: int, n_test: int, has_coarse: bool = False
) -> Callable[[Loader], Loader]:
    def decorator(fn: Loader) -> Loader:
        DATASETS.register(name)(DatasetSource(fn, has_coarse, n_train, n_test))
        return fn

    return decorator


def list_datasets() -> list[str]:
    return DATASETS.names()


def load_dataset(cfg: DataConfig, noise: NoiseConfig | None = None) -> Dataset:
    """Load by name, apply label noise to the whole training split (so image i gets the same
    noisy label whatever the subsample or holdout), then subsample and hold out a validation
    split, which keeps its clean labels unless `noise.apply_to_val`. A `noise.seed` of
    `trial` must be resolved first (`NoiseConfig.for_trial`)."""
    train, test, num_classes = DATASETS.get(cfg.name, "data.name").load(cfg)
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
    return Dataset(cfg.name, num_classes, train, test, val, rate, mask)


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


# --- CIFAR pickles ------------------------------------------------------------------------------


def _unpickle(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        raw = pickle.load(fh, encoding="latin1")
    # The official files were written by Python 2; normalise bytes keys to str.
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _rows_to_images(data: Any) -> torch.Tensor:
    """N×3072 uint8 rows (R plane, G plane, B plane, each 32×32 row-major) → N×3×32×32."""
    arr = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    return torch.from_numpy(arr.copy())


def _ensure_files(cfg: DataConfig, folder: str, files: list[str], tv_name: str) -> Path:
    root = Path(cfg.root).expanduser().resolve()
    base = root / folder
    if all((base / f).is_file() for f in files):
        return base
    if not cfg.download:
        raise UserError(
            f"data.root: {cfg.name} not found at {base} (expected {', '.join(files)}); "
            f"set data.download: true to fetch it with torchvision, or place the "
            f"'{folder}' folder of the official python archive under {root}"
        )
    from filelock import FileLock
    from torchvision import datasets as tv

    root.mkdir(parents=True, exist_ok=True)
    # Several trials on one node may start at once: one downloads, the others wait.
    with FileLock(str(root / f".{folder}.lock")):
        if not all((base / f).is_file() for f in files):
            getattr(tv, tv_name)(str(root), train=True, download=True)  # md5-checked
    return base


# Files each downloadable dataset needs: (folder under data.root, files, torchvision class).
_CIFAR_FILES = {
    "cifar100": ("cifar-100-python", ["train", "test", "meta"], "CIFAR100"),
    "cifar10": (
        "cifar-10-batches-py",
        [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"],
        "CIFAR10",
    ),
}


def preflight(cfg: TrialConfig) -> None:
    """Everything a trial will read exists and is valid: checked on the driver, before any
    trial starts or anything is written (data downloaded here when allowed)."""
    ensure_available(cfg.data)
    if cfg.noise.path:
        load_human_labels(cfg.noise.path)


def ensure_available(cfg: DataConfig) -> None:
    """Fail with a clear message (or download, when allowed) before any trial starts."""
    if cfg.name in _CIFAR_FILES:
        _ensure_files(cfg, *_CIFAR_FILES[cfg.name])


@_dataset("cifar100", 50_000, 10_000, has_coarse=True)
def _load_cifar100(cfg: DataConfig) -> tuple[Split, Split, int]:
    base = _ensure_files(cfg, *_CIFAR_FILES["cifar100"])
    splits = []
    for part in ("train", "test"):
        raw = _unpickle(base / part)
        splits.append(
            Split(
                _rows_to_images(raw["data"]),
                torch.as_tensor(raw["fine_labels"], dtype=torch.long),
                torch.as_tensor(raw["coarse_labels"], dtype=torch.long),
            )
        )
    return splits[0], splits[1], 100


@_dataset("cifar10", 50_000, 10_000)
def _load_cifar10(cfg: DataConfig) -> tuple[Split, Split, int]:
    base = _ensure_files(cfg, *_CIFAR_FILES["cifar10"])
    batches = [f"data_batch_{i}" for i in range(1, 6)]

    def read(names: list[str]) -> Split:
        raws = [_unpickle(base / n) for n in names]
        images = torch.cat([_rows_to_images(r["data"]) for r in raws])
        labels = torch.as_tensor(np.concatenate([r["labels"] for r in raws]), dtype=torch.long)
        return Split(images, labels)

    return read(batches), read(["test_batch"]), 10


@_dataset("digits", 1_347, 450)
def _load_digits(cfg: DataConfig) -> tuple[Split, Split, int]:
    """scikit-learn's bundled 8×8 digits (1,797 real images, offline), a fixed stratified
    75/25 train/test split (seed 0, independent of the trial seed)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    keep, test_idx = stratified_holdout(labels, 0.25, seed=0)
    full = Split(torch.from_numpy(images), torch.from_numpy(labels))
    return full.subset(keep), full.subset(test_idx), 10


# --- fake CIFAR-100 for tests ---------------------------------------------------------------------


def write_fake_cifar100(root: str | Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write `root/cifar-100-python/{train,test,meta}` in exactly the official pickle format.

    Each fine class has a smooth random colour prototype; a sample is its prototype plus pixel
    noise, so a small network can learn the classes. Labels cycle through the 100 classes
    (balanced); coarse labels follow the real fine→coarse map. Returns the folder written.
    """
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, size=(100, 3, 4, 4))
    prototypes = low.repeat(8, axis=2).repeat(8, axis=3)  # 100×3×32×32, blocky but distinct
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("test", n_test)):
        fine = rng.permutation(np.arange(n) % 100)
        pixels = prototypes[fine] * 0.7 + rng.uniform(0, 255 * 0.3, size=(n, 3, 32, 32))
        blob = {
            "filenames": [f"fake_{part}_{i:05d}.png" for i in range(n)],
            "batch_label": f"{part}ing batch 1 of 1",
            "fine_labels": fine.astype(int).tolist(),
            "coarse_labels": CIFAR100_FINE_TO_COARSE[fine].astype(int).tolist(),
            "data": np.clip(pixels, 0, 255).astype(np.uint8).reshape(n, 3072),
        }
        with (folder / part).open("wb") as fh:
            pickle.dump(blob, fh, protocol=2)
    meta = {"fine_label_names": CIFAR100_FINE_NAMES, "coarse_label_names": CIFAR100_COARSE_NAMES}
    with (folder / "meta").open("wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return folder
