"""Benchmarks that print figures (never timed tests): `study bench losses`, `study bench train`.

Loss cost: forward + backward of every registered loss on random logits, timed in interleaved
rounds (each round times every loss once, in a fresh random order), reported as the median
over rounds of the per-round ratio to `ce` — paired, so machine drift cancels.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch

from study.training.losses import create_loss, list_losses

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


# --- training throughput: `study bench train` ---------------------------------------------------

PAPER_TRAIN_IMAGES, PAPER_TEST_IMAGES, PAPER_EPOCHS = 50_000, 10_000, 200


def count_macs(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass of one input of `shape` (C, H, W): convolutions and
    linear layers (batch norm, ReLU and pooling are negligible)."""
    total = 0

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += out[0].numel() * k
        elif isinstance(module, torch.nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def measure_path(
    path: str, device: str, width: int, n_train: int, n_test: int, seed: int = 0
) -> dict[str, float]:
    """Train and evaluation images/s of the real training loop (`study.training.trial`) on synthetic
    CIFAR-shaped data, batch 100, for one path (`fast` or `reference`)."""
    from study.training.config import TrialConfig
    from study.training.data import Split
    from study.training.losses import create_loss
    from study.training.models import create_model
    from study.training.runtime import Runtime
    from study.training.trial import _train_epoch, evaluate

    cfg = TrialConfig.from_dict(
        {"data": {"name": "digits"}, "model": {"width": width}, "device": device,
         "perf": {"path": path}, "schedule": {"batch_size": 100}}
    )  # fmt: skip
    rt = Runtime.from_config(cfg)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n_train + n_test, 3, 32, 32), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 100, (n_train + n_test,), generator=gen)
    train = Split(images[:n_train].to(rt.data_device), labels[:n_train].to(rt.data_device))
    test = Split(images[n_train:].to(rt.device), labels[n_train:].to(rt.device))
    mean = images[:n_train].double().mean(0).div(255).float().to(rt.device)
    model = rt.prepare(create_model("resnet18", 100, width, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = create_loss("ce")
    data_gen = rt.generator(seed)
    warm = Split(train.images[:200], train.labels[:200])
    _train_epoch(rt, model, loss_fn, opt, warm, data_gen, mean, cfg)  # warm-up (allocator, cuDNN)
    start = time.perf_counter()
    _train_epoch(rt, model, loss_fn, opt, train, data_gen, mean, cfg)  # ends in one host sync
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate(rt, model, test, mean, 100, 1000).compute()  # compute() is the host sync
    eval_s = time.perf_counter() - start
    return {"train_ips": n_train / train_s, "eval_ips": n_test / eval_s}


def _pack_worker(args: tuple[str, int, int, int, int], barrier: Any, queue: Any) -> None:
    device, width, n_train, n_test, k = args
    if not device.startswith("cuda"):  # CPU trials share the cores, as Ray would give them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // k))
    barrier.wait()
    queue.put(measure_path("fast", device, width, n_train, n_test)["train_ips"])


def measure_packing(device: str, width: int, n_train: int, k: int) -> float:
    """Aggregate train images/s of `k` trials running at once on one device (processes)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    procs = [
        ctx.Process(target=_pack_worker, args=((device, width, n_train, 100, k), barrier, queue))
        for _ in range(k)
    ]
    for p in procs:
        p.start()
    rates = [queue.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    return float(sum(rates))


def matmul_peak(device: str) -> float:
    """Measured FLOP/s of a large matrix product (best of 3 timings): bf16 on CUDA, float32 on
    the CPU."""
    cuda = device.startswith("cuda")
    n = 8192 if cuda else 2048
    dtype = torch.bfloat16 if cuda else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    reps = 20 if cuda else 3
    a @ b  # warm-up
    best = 0.0
    for _ in range(3):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        if cuda:
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best


def bench_train(device: str, quick: bool) -> list[str]:
    """Lines of the report: both paths, packing, and the fraction of the matmul peak."""
    from study.training.models import create_model

    width = 16 if quick else 64
    n_train, n_test = (300, 200) if quick else (5000, 2000)
    ks = (1, 2) if quick or not device.startswith("cuda") else (1, 2, 4, 8)
    macs = count_macs(create_model("resnet18", 100, width, 3), (3, 32, 32))
    flops_per_trained_image = 6 * macs  # forward 2·MACs, backward ≈ 2 × forward
    peak = matmul_peak(device)
    lines = [
        f"# study bench train: {machine_line(device)}",
        f"# ResNet-18 width {width}: {macs / 1e9:.4f} G multiply-adds forward per image, "
        f"{flops_per_trained_image / 1e9:.2f} GFLOP per trained image; batch 100; synthetic "
        f"{n_train} train / {n_test} test images; median of 3 interleaved runs per path",
        f"# measured {'bf16' if device.startswith('cuda') else 'fp32'} matmul peak: "
        f"{peak / 1e12:.2f} TFLOP/s",
        "| path | train img/s | eval img/s | s/epoch (50k+10k) | min per 200-epoch trial "
        "| achieved TFLOP/s | of peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rounds = 3  # interleaved, median per path: the two paths are measured side by side
    runs: dict[str, list[dict[str, float]]] = {"reference": [], "fast": []}
    for _ in range(rounds):
        for path in runs:
            runs[path].append(measure_path(path, device, width, n_train, n_test))
    for path, ms in runs.items():
        train_ips = statistics.median(m["train_ips"] for m in ms)
        eval_ips = statistics.median(m["eval_ips"] for m in ms)
        epoch_s = PAPER_TRAIN_IMAGES / train_ips + PAPER_TEST_IMAGES / eval_ips
        achieved = train_ips * flops_per_trained_image
        lines.append(
            f"| {path} | {train_ips:.0f} | {eval_ips:.0f} | {epoch_s:.1f} | "
            f"{PAPER_EPOCHS * epoch_s / 60:.1f} | {achieved / 1e12:.3f} | {achieved / peak:.1%} |"
        )
    lines += ["", "| trials packed on the device (fast path) | aggregate train img/s | vs 1 |",
              "|---|---:|---:|"]  # fmt: skip
    base = None
    for k in ks:
        rate = measure_packing(device, width, n_train, k)
        base = base or rate
        lines.append(f"| {k} | {rate:.0f} | {rate / base:.2f}x |")
    return lines


# --- scheduling and tracking overhead: `study bench scheduling` -----------------------------------
