"""What a trial ran on: the node's hardware and software, recorded with every trial run
(`contract.ENVIRONMENT_FILE`, and the short `hardware` tag), so that a result can be traced
to the chip, the driver and the library versions that produced it.

* CPU: model name and the instruction-set flags that select PyTorch's kernels (AVX2,
  AVX-512, AMX: `/proc/cpuinfo`), logical cores;
* GPU: name and count (`torch.cuda`), driver (`nvidia-smi`, when present), CUDA and cuDNN
  versions PyTorch was built with and loads;
* Python and the versions of torch, torchvision, ray, mlflow, optuna and numpy
  (`importlib.metadata`), the SHA-256 of the `requirements.lock` the environment was
  installed from (None when the code runs without its checkout), the hostname.

The standard library and torch do the work; nothing here fails a trial (an unreadable field is
None).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import shutil
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from study.contract import HARDWARE_TAG

KERNEL_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile",
                "amx_bf16")  # fmt: skip
PACKAGES = ("torch", "torchvision", "ray", "mlflow", "optuna", "numpy")
LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"


def _cpu() -> dict[str, Any]:
    model, flags = platform.processor() or None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass

    return {"cpu_model": model, "cpu_count": os.cpu_count(),
            "cpu_flags": [f for f in KERNEL_FLAGS if f in flags]}  # fmt: skip


def _gpu() -> dict[str, Any]:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    out: dict[str, Any] = {
        "gpu_name": torch.cuda.get_device_name(0) if count else None, "gpu_count": count,
        "cuda": torch.version.cuda, "gpu_driver": None,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }  # fmt: skip
    if count and shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            answer = subprocess.run(query, capture_output=True, text=True, timeout=10)
            out["gpu_driver"] = answer.stdout.split("\n")[0].strip() or None
    return out


def _versions() -> dict[str, Any]:
    found: dict[str, Any] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def lock_sha256(path: Path = LOCK) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def hardware_label(env: dict[str, Any]) -> str:
    """`AMD EPYC 9554 (avx512f)`, `… + 1× NVIDIA H200`: what pairs of trials are compared on."""
    cpu = str(env.get("cpu_model") or "unknown CPU")
    wide = [f for f in ("avx512f", "amx_tile") if f in (env.get("cpu_flags") or [])]
    label = f"{cpu} ({', '.join(wide)})" if wide else cpu
    if env.get("gpu_count"):
        label += f" + {env['gpu_count']}× {env['gpu_name']}"
    return label


@functools.cache  # one node's environment does not change while its process lives
def environment() -> dict[str, Any]:
    """This process's node: hardware, versions, lock hash, hostname, and `hardware` (the
    label)."""
    env = {**_cpu(), **_gpu(), **_versions(), "lock_sha256": lock_sha256(),
           "hostname": socket.gethostname()}  # fmt: skip
    return {**env, HARDWARE_TAG: hardware_label(env)}
