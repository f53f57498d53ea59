"""A trial's state to and from bytes and files (torch.save; loading with `weights_only`, so a
checkpoint never unpickles code), and the flipped-label mask a noisy trial keeps."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def mask_npz(mask: np.ndarray) -> bytes:
    """`flipped`: bool per sample of the full training split, in the dataset's order."""
    buf = io.BytesIO()
    np.savez_compressed(buf, flipped=mask.astype(bool))
    return buf.getvalue()


def save_checkpoint(state: Mapping[str, Any], path: str) -> None:
    torch.save(dict(state), path)


def load_checkpoint(path: str) -> dict[str, Any]:
    """Checkpoints hold only tensors and plain containers: load without unpickling code."""
    loaded: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return loaded


def checkpoint_bytes(state: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    return buf.getvalue()


def checkpoint_from_bytes(data: bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return loaded
