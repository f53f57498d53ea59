"""The CIFAR-10 and CIFAR-100 sources: the official python pickles (Krizhevsky 2009,
https://www.cs.toronto.edu/~kriz/cifar.html), read as they are; downloaded by torchvision when
`data.download` allows it. Class names come from the archive's own `meta` / `batches.meta`."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from study.errors import UserError
from study.training.config import DataConfig
from study.training.data.registry import Split, dataset


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


def ensure_available(cfg: DataConfig) -> None:
    """Fail with a clear message (or download, when allowed) before any trial starts."""
    if cfg.name in _CIFAR_FILES:
        _ensure_files(cfg, *_CIFAR_FILES[cfg.name])


def _names(path: Path, key: str, n: int) -> tuple[str, ...]:
    """Class names from an archive's metadata pickle; indices where it has none."""
    names = _unpickle(path).get(key) if path.is_file() else None
    return tuple(str(x) for x in names) if names and len(names) == n else tuple(map(str, range(n)))


@dataset("cifar100", 50_000, 10_000, has_coarse=True)
def _load_cifar100(cfg: DataConfig) -> tuple[Split, Split, tuple[str, ...]]:
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
    return splits[0], splits[1], _names(base / "meta", "fine_label_names", 100)


@dataset("cifar10", 50_000, 10_000)
def _load_cifar10(cfg: DataConfig) -> tuple[Split, Split, tuple[str, ...]]:
    base = _ensure_files(cfg, *_CIFAR_FILES["cifar10"])
    batches = [f"data_batch_{i}" for i in range(1, 6)]

    def read(names: list[str]) -> Split:
        raws = [_unpickle(base / n) for n in names]
        images = torch.cat([_rows_to_images(r["data"]) for r in raws])
        labels = torch.as_tensor(np.concatenate([r["labels"] for r in raws]), dtype=torch.long)
        return Split(images, labels)

    return read(batches), read(["test_batch"]), _names(base / "batches.meta", "label_names", 10)
