"""Benchmarks that print figures (never timed tests): `study bench losses`.

Loss cost: forward + backward of every registered loss on random logits, timed in interleaved
rounds (each round times every loss once, in a fresh random order), reported as the median
over rounds of the per-round ratio to `ce` — paired, so machine drift cancels.
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from collections.abc import Sequence

import torch

from study.losses import create_loss, list_losses

DEFAULT_SHAPES = ((100, 100), (4096, 100), (8192, 1000))


def _time_once(
    loss_fn: torch.nn.Module, logits: torch.Tensor, target: torch.Tensor, inner: int
) -> float:
    if logits.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(inner):
        logits.grad = None
        loss_fn(logits, target).backward()
    if logits.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / inner


def bench_losses(
    device: str = "cpu",
    shapes: Sequence[tuple[int, int]] = DEFAULT_SHAPES,
    repeats: int = 50,
    seed: int = 0,
) -> list[dict[str, float | str]]:
    """Rows of (shape, loss, median seconds, median ratio to ce, n rounds)."""
    rows: list[dict[str, float | str]] = []
    names = list_losses()
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    for n, k in shapes:
        logits = (torch.randn(n, k, generator=gen) * 3).to(device).requires_grad_()
        target = torch.randint(0, k, (n,), generator=gen).to(device)
        losses = {name: create_loss(name) for name in names}
        # ~2 ms per timing so that timer resolution and call overhead do not dominate
        single = min(_time_once(losses["ce"], logits, target, 1) for _ in range(5))
        inner = max(1, int(2e-3 / max(single, 1e-7)))
        for name in names:  # warm-up
            _time_once(losses[name], logits, target, inner)
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(repeats):
            order = names[:]
            rng.shuffle(order)
            for name in order:
                times[name].append(_time_once(losses[name], logits, target, inner))
        for name in names:
            ratios = [t / c for t, c in zip(times[name], times["ce"], strict=True)]
            rows.append(
                {
                    "shape": f"{n}x{k}",
                    "loss": name,
                    "median_us": 1e6 * statistics.median(times[name]),
                    "ratio_to_ce": statistics.median(ratios),
                    "n": float(repeats),
                }
            )
    return rows


def machine_line(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        what = torch.cuda.get_device_name(torch.device(device))
    else:
        what = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return (
        f"device {device} ({what}), torch {torch.__version__}, python {platform.python_version()}"
    )


def print_loss_table(rows: list[dict[str, float | str]], device: str, repeats: int) -> None:
    print(f"# forward+backward time per loss, {machine_line(device)}")
    print(f"# median over n={repeats} interleaved rounds of the per-round ratio to ce")
    print("| shape | loss | median µs | ratio to ce |")
    print("|---|---|---:|---:|")
    for row in rows:
        shape, loss, us, ratio = row["shape"], row["loss"], row["median_us"], row["ratio_to_ce"]
        print(f"| {shape} | {loss} | {us:.1f} | {ratio:.3f} |")
