"""A fake CIFAR-100 for tests and demos where the real archive cannot be downloaded:
`write_fake_cifar100` writes `train`, `test` and `meta` in exactly the official pickle format,
so the real reader (`study.training.data.cifar`) reads it."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

# Fine → coarse map of CIFAR-100 in the standard (alphabetical) fine-label order.
CIFAR100_FINE_TO_COARSE = np.array(
    (
        "4 1 14 8 0 6 7 7 18 3 3 14 9 18 7 11 3 9 7 11 6 11 5 10 7 6 13 15 3 15 0 11 1 10 12 14 16 "
        "9 11 5 5 19 8 8 15 13 14 17 18 10 16 4 17 4 2 0 17 4 18 17 10 3 2 12 12 16 12 1 9 19 2 10 "
        "0 1 16 12 9 13 15 13 16 19 2 4 6 19 5 5 8 19 18 1 2 15 6 0 17 8 14 13"
    ).split(),
    dtype=np.int64,
)


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
    # the official meta's keys; the names say they are fake (the real ones come with the files)
    meta = {
        "fine_label_names": [f"fake_class_{i:02d}" for i in range(100)],
        "coarse_label_names": [f"fake_superclass_{i:02d}" for i in range(20)],
    }
    with (folder / "meta").open("wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return folder


def write_fake_emnist_letters(root: str | Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write `root/EMNIST/raw/emnist-letters-{train,test}-{images-idx3,labels-idx1}-ubyte` in
    the official uncompressed IDX format (big-endian magic 0x0803 / 0x0801 and sizes, then the
    uint8 bytes), which torchvision's `EMNIST(split="letters")` reads. Labels cycle through
    1..26 as in the real files; each letter has a blocky prototype plus noise. Returns the
    folder written."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0, 255, size=(26, 7, 7)).repeat(4, axis=1).repeat(4, axis=2)
    folder = Path(root) / "EMNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % 26) + 1
        pixels = prototypes[labels - 1] * 0.7 + rng.uniform(0, 255 * 0.3, size=(n, 28, 28))
        images = np.clip(pixels, 0, 255).astype(np.uint8)
        header = np.array([0x0803, n, 28, 28], dtype=">i4").tobytes()
        (folder / f"emnist-letters-{part}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        header = np.array([0x0801, n], dtype=">i4").tobytes()
        (folder / f"emnist-letters-{part}-labels-idx1-ubyte").write_bytes(
            header + labels.astype(np.uint8).tobytes()
        )
    return folder
