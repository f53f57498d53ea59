"""Per-batch preprocessing on whatever device the images live on.

The paper's recipe: random 32×32 crop of the zero-padded image (4 pixels), horizontal flip with
probability 1/2 (training only), then per-pixel mean subtraction (x/255 − mean image). Optional:
random rotation and perspective, one batched warp after the crop and flip (`study.training.warp`;
`Warp` = (rotation degrees, perspective scale, perspective probability)). All random draws come
from one explicit `torch.Generator`, so the seed fixes data order and augmentation.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from study.training.warp import random_warp

Warp = tuple[float, float, float]
NO_WARP: Warp = (0.0, 0.0, 0.5)


def random_crop_flip(
    images: torch.Tensor, gen: torch.Generator, padding: int, flip: bool
) -> torch.Tensor:
    """Crop each image at a random offset of its zero-padded copy, then maybe flip it.

    images: uint8 B×C×H×W. Draws B row offsets, B column offsets (uniform in [0, 2·padding])
    and B flip coins from `gen`, in that order. Returns uint8 B×C×H×W.
    """
    b, c, h, w = images.shape
    out = images
    if padding > 0:
        padded = F.pad(images, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device)
        dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device)
        dy, dx = dy.to(images.device), dx.to(images.device)
        rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
        batch = torch.arange(b, device=images.device)[:, None, None, None]
        chan = torch.arange(c, device=images.device)[None, :, None, None]
        out = padded[batch, chan, rows, cols]
    if flip:
        coins = torch.rand(b, generator=gen, device=gen.device).to(images.device) < 0.5
        out = torch.where(coins[:, None, None, None], out.flip(3), out)
    return out


def normalize(images: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 x/255 − mean image (per-pixel mean subtraction, no std scaling)."""
    return images.float().div_(255.0).sub_(mean)


def train_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    gen: torch.Generator,
    mean: torch.Tensor,
    padding: int,
    flip: bool,
    warp: Warp = NO_WARP,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch: a permutation drawn from `gen`, then augmented, normalised batches."""
    order = torch.randperm(len(labels), generator=gen, device=gen.device).to(images.device)
    for start in range(0, len(labels), batch_size):
        idx = order[start : start + batch_size]
        x = random_warp(random_crop_flip(images[idx], gen, padding, flip), gen, *warp)
        yield normalize(x, mean), labels[idx]


def reference_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    gen: torch.Generator,
    mean: torch.Tensor,
    padding: int,
    flip: bool,
    device: torch.device,
    warp: Warp = NO_WARP,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The classic pipeline, image by image on the CPU, then a float32 copy to `device`.

    Draws exactly what `train_batches` draws from a CPU `gen` (the permutation, then per batch
    B row offsets, B column offsets and B flip coins), so both paths see identical batches.
    """
    order = torch.randperm(len(labels), generator=gen)
    cpu_mean = mean.cpu()
    for start in range(0, len(labels), batch_size):
        idx = order[start : start + batch_size]
        b = len(idx)
        dy = dx = coins = None
        if padding > 0:
            dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
            dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
        if flip:
            coins = torch.rand(b, generator=gen) < 0.5
        crops = []
        for j, i in enumerate(idx.tolist()):
            img = images[i]
            if padding > 0:
                assert dy is not None and dx is not None
                h, w = img.shape[1:]
                padded = F.pad(img, (padding, padding, padding, padding))
                img = padded[:, int(dy[j]) : int(dy[j]) + h, int(dx[j]) : int(dx[j]) + w]
            if coins is not None and bool(coins[j]):
                img = img.flip(2)
            crops.append(img)
        x = normalize(random_warp(torch.stack(crops), gen, *warp), cpu_mean)
        yield x.to(device), labels[idx].to(device)


def eval_batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean: torch.Tensor
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Un-augmented, normalised batches in order."""
    for start in range(0, len(labels), batch_size):
        sl = slice(start, start + batch_size)
        yield normalize(images[sl], mean), labels[sl]
