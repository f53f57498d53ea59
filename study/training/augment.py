"""Training augmentations, a registry, applied per batch on whatever device the images live on.

`AUGMENTATIONS` holds each augmentation with its place in the pipeline (`order`) and the data
config fields that switch it on and set it:

* `crop` (order 10, `data.crop_padding`): a random crop of the zero-padded image, the paper's
  4 pixels at 32×32;
* `flip` (order 20, `data.flip`): horizontal flip with probability 1/2;
* `warp` (order 30, `data.rotation`, `data.perspective`, `data.perspective_p`): random rotation
  and perspective as one batched projective warp (`study.training.warp`), the second paper's.

Then per-pixel mean subtraction (x/255 − mean image), for training and evaluation alike. All
random draws come from one explicit `torch.Generator`, in pipeline order, and an inactive
augmentation draws nothing, so the seed fixes data order and augmentation and a resumed trial
(the generator is in its checkpoint) draws the same. A new augmentation is one registration
and its config fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch
import torch.nn.functional as F

from study.registry import Registry
from study.training.config import DataConfig
from study.training.warp import random_warp


class Augmentation(Protocol):
    order: int  # its place in the pipeline

    def active(self, data: DataConfig) -> bool: ...

    def __call__(
        self, images: torch.Tensor, gen: torch.Generator, data: DataConfig
    ) -> torch.Tensor:
        """uint8 B×C×H×W → uint8 B×C×H×W, drawing from `gen` (on its device)."""
        ...


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


def pipeline(data: DataConfig) -> list[Augmentation]:
    """The augmentations `data` switches on, in pipeline order."""
    entries = [AUGMENTATIONS.get(n) for n in AUGMENTATIONS.names()]
    return sorted((a for a in entries if a.active(data)), key=lambda a: a.order)


def augment(images: torch.Tensor, gen: torch.Generator, data: DataConfig) -> torch.Tensor:
    for step in pipeline(data):
        images = step(images, gen, data)
    return images


def random_crop(images: torch.Tensor, gen: torch.Generator, padding: int) -> torch.Tensor:
    """Crop each image at a random offset of its zero-padded copy: draws B row offsets, then
    B column offsets, uniform in [0, 2·padding]."""
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device)
    dy, dx = dy.to(images.device), dx.to(images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    chan = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally with probability 1/2: draws B coins."""
    coins = torch.rand(len(images), generator=gen, device=gen.device).to(images.device) < 0.5
    return torch.where(coins[:, None, None, None], images.flip(3), images)


class _Crop:
    order = 10

    def active(self, data: DataConfig) -> bool:
        return data.crop_padding > 0

    def __call__(
        self, images: torch.Tensor, gen: torch.Generator, data: DataConfig
    ) -> torch.Tensor:
        return random_crop(images, gen, data.crop_padding)


class _Flip:
    order = 20

    def active(self, data: DataConfig) -> bool:
        return data.flip

    def __call__(
        self, images: torch.Tensor, gen: torch.Generator, data: DataConfig
    ) -> torch.Tensor:
        return random_flip(images, gen)


class _Warp:
    order = 30

    def active(self, data: DataConfig) -> bool:
        return data.rotation > 0 or data.perspective > 0

    def __call__(
        self, images: torch.Tensor, gen: torch.Generator, data: DataConfig
    ) -> torch.Tensor:
        return random_warp(images, gen, data.rotation, data.perspective, data.perspective_p)


AUGMENTATIONS.register("crop")(_Crop())
AUGMENTATIONS.register("flip")(_Flip())
AUGMENTATIONS.register("warp")(_Warp())


def normalize(images: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 x/255 − mean image (per-pixel mean subtraction, no std scaling)."""
    return images.float().div_(255.0).sub_(mean)


def train_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    gen: torch.Generator,
    mean: torch.Tensor,
    data: DataConfig,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch: a permutation drawn from `gen`, then augmented, normalised batches."""
    order = torch.randperm(len(labels), generator=gen, device=gen.device).to(images.device)
    for start in range(0, len(labels), batch_size):
        idx = order[start : start + batch_size]
        yield normalize(augment(images[idx], gen, data), mean), labels[idx]


def reference_batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, gen: torch.Generator,
    mean: torch.Tensor, data: DataConfig, device: torch.device,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # fmt: skip
    """The classic pipeline: crop and flip image by image on the CPU, the later augmentations
    of the pipeline on the batch, then a float32 copy to `device`.

    Draws exactly what `train_batches` draws from a CPU `gen` (the permutation, then per batch
    B row offsets, B column offsets and B flip coins, then the warp's), so both paths see
    identical batches.
    """
    order = torch.randperm(len(labels), generator=gen)
    cpu_mean = mean.cpu()
    padding, later = data.crop_padding, [a for a in pipeline(data) if a.order > _Flip.order]
    for start in range(0, len(labels), batch_size):
        idx = order[start : start + batch_size]
        b = len(idx)
        dy = dx = coins = None
        if padding > 0:
            dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
            dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen)
        if data.flip:
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
        x = torch.stack(crops)
        for step in later:
            x = step(x, gen, data)
        yield normalize(x, cpu_mean).to(device), labels[idx].to(device)


def eval_batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean: torch.Tensor
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Un-augmented, normalised batches in order."""
    for start in range(0, len(labels), batch_size):
        sl = slice(start, start + batch_size)
        yield normalize(images[sl], mean), labels[sl]
