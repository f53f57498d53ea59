"""Where and how a trial computes: device, data path, autocast, memory format, compile.

One object decides it from `cfg.device` and `cfg.perf`, so the training loop stays one loop:
`runtime.batches(...)` yields training batches on the device by the fast or the reference
path, and `runtime.forward(model, x)` applies autocast and the memory format.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from study.training.augment import reference_batches, train_batches
from study.training.config import TrialConfig


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    fast: bool  # data resident on the device, whole-batch augmentation there
    amp: bool  # bf16 autocast
    channels_last: bool

    @classmethod
    def from_config(cls, cfg: TrialConfig) -> Runtime:
        device = resolve_device(cfg.device)
        cuda = device.type == "cuda"
        return cls(
            device=device,
            fast=cfg.perf.path != "reference",
            amp=cfg.perf.amp == "bf16" or (cfg.perf.amp == "auto" and cuda),
            channels_last=cfg.perf.channels_last == "on"
            or (cfg.perf.channels_last == "auto" and cuda),
        )

    @property
    def data_device(self) -> torch.device:
        """Training images live on the device only on the fast path."""
        return self.device if self.fast else torch.device("cpu")

    def generator(self, seed: int) -> torch.Generator:
        """Data order and augmentation: on the data's device (no host round trip per batch)."""
        return torch.Generator(device=self.data_device).manual_seed(seed)

    def prepare(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def autocast(self) -> AbstractContextManager[None]:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out: torch.Tensor = model(x)
        return out

    @property
    def batches(self) -> Callable[..., Iterator[tuple[torch.Tensor, torch.Tensor]]]:
        """`train_batches`, or on the reference path `reference_batches` to this device (the
        same arguments, the same batches)."""
        if self.fast:
            return train_batches
        return functools.partial(reference_batches, device=self.device)
