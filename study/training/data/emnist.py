"""The EMNIST-Letters source (Cohen et al. 2017, arXiv 1702.05373): 124,800 training and
20,800 test images of handwritten letters, 28 × 28 grey, read through torchvision's `EMNIST`
class (split `letters`) from the uncompressed IDX files
`<data.root>/EMNIST/raw/emnist-letters-{train,test}-{images-idx3,labels-idx1}-ubyte`
(`data.download: true` fetches the official archive where the network allows).

Labels: the files hold 1..26 for a..z (0, "N/A", is never used). With `data.outputs` unset (or
26) they are shifted to 0..25: 26 classes, `a` = 0. With `data.outputs: 62` they stay 1..26 in
a 62-way output, as the second paper's protocol and SpinalNet's script train them (classes
0 and 27..61 never occur). Images are kept as the files store them — transposed relative to
MNIST (pytorch/vision#8783) — because the published EMNIST VGG scripts do not transpose them
either.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

from study.errors import UserError
from study.training.config import DataConfig
from study.training.data.registry import Split, dataset

FILES = [f"emnist-letters-{part}-{kind}-ubyte" for part in ("train", "test")
         for kind in ("images-idx3", "labels-idx1")]  # fmt: skip


def ensure_emnist(cfg: DataConfig) -> None:
    raw = Path(cfg.root).expanduser().resolve() / "EMNIST" / "raw"
    if all((raw / f).is_file() for f in FILES) or cfg.download:
        return
    raise UserError(
        f"data.root: emnist_letters not found at {raw} (expected {', '.join(FILES)}, "
        "uncompressed); set data.download: true to fetch it with torchvision, or unpack the "
        "official gzip archive there"
    )


@dataset("emnist_letters", 124_800, 20_800)
def _load_emnist_letters(cfg: DataConfig) -> tuple[Split, Split, tuple[str, ...]]:
    from filelock import FileLock
    from torchvision.datasets import EMNIST

    ensure_emnist(cfg)
    root = Path(cfg.root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    shift = cfg.outputs in (None, 26)
    splits = []
    with FileLock(str(root / ".emnist.lock")):  # one download when several trials start
        for train in (True, False):
            ds = EMNIST(str(root), split="letters", train=train, download=cfg.download)
            images = ds.data[:, None, :, :].to(torch.uint8).contiguous()
            labels = ds.targets.to(torch.long) - (1 if shift else 0)
            splits.append(Split(images, labels))
    letters = tuple(string.ascii_lowercase)
    if shift:
        return splits[0], splits[1], letters
    unused = tuple(f"unused_{i}" for i in range(27, 62))
    return splits[0], splits[1], ("N/A", *letters, *unused)
