"""The one training loop: `run_trial(cfg, report, checkpoint=None)`.

Used by Ray Tune (`study.orchestration.trainable`), by `study trial` and by the tests. Per epoch it
trains, steps its schedule, evaluates on the test split (and the validation holdout when there is
one) and calls `report(metrics, state)` with the metrics and a full checkpoint state (model,
optimizer, scheduler, RNG, epoch, metric history). Restoring that state and continuing gives exactly
the metrics of an uninterrupted run: the only randomness after initialisation is one
`torch.Generator` (data order + augmentation) that is part of the state.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from study import contract
from study.training.attacks import adversarial_errors
from study.training.augment import eval_batches, normalize
from study.training.config import TrialConfig
from study.training.data import Dataset, Split, load_dataset
from study.training.finals import diverged_metrics, final_metrics
from study.training.losses import create_loss
from study.training.metrics import EvalAccumulator, MemorizationAccumulator
from study.training.models import create_model
from study.training.optim import Schedule, create_optimizer, create_schedule
from study.training.runtime import Runtime
from study.training.states import mask_npz

CHECKPOINT_FORMAT = 1


class Reporter(Protocol):
    """Receives each epoch's metrics, the checkpoint state, and files to keep (name → bytes;
    the flipped-label mask `noise_mask.npz` with the first epoch of a noisy trial)."""

    def __call__(
        self, metrics: dict[str, float], state: dict[str, Any], artifacts: dict[str, bytes], /
    ) -> None: ...


def run_trial(
    cfg: TrialConfig, report: Reporter, checkpoint: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """Train `cfg` to its last epoch, reporting every epoch; returns the last report."""
    t = _Parts.build(cfg)
    history: dict[str, list[float]] = {}
    start = 0
    if checkpoint is not None:
        start = _restore(checkpoint, cfg, t.model, t.optimizer, t.scheduler, t.gen, history)
    artifacts = {}
    if start == 0 and t.data.noise_mask is not None:
        artifacts["noise_mask.npz"] = mask_npz(t.data.noise_mask)
    metrics: dict[str, float] = {}
    for epoch in range(start + 1, cfg.schedule.epochs + 1):
        metrics = _epoch(t, cfg, epoch, history, artifacts)
        done = int(metrics["epoch"])  # the last epoch, at once, when training diverged
        state = {
            "format": CHECKPOINT_FORMAT,
            "config_hash": cfg.config_hash(),
            "epoch": done,
            "model": t.model.state_dict(),
            "optimizer": t.optimizer.state_dict(),
            "scheduler": t.scheduler.state_dict(),
            "rng": t.gen.get_state(),
            "rng_device": t.gen.device.type,
            "history": history,
        }
        report(metrics, state, artifacts)
        artifacts = {}
        if done == cfg.schedule.epochs:
            break
    return metrics


@dataclass
class _Parts:
    """What one trial trains with, built from its config in a fixed order (the order of the
    random draws)."""

    rt: Runtime
    data: Dataset
    mean: torch.Tensor
    train: Split
    evals: dict[str, Split]
    model: nn.Module  # holds the parameters and the checkpointed state
    net: nn.Module  # `model`, compiled or not
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Schedule
    gen: torch.Generator

    @classmethod
    def build(cls, cfg: TrialConfig) -> _Parts:
        rt = Runtime.from_config(cfg)
        data = load_dataset(cfg.data, cfg.noise.for_trial(cfg.seed))
        mean = data.mean_image()
        if cfg.data.norm_mean is not None:  # a dataset-wide constant instead of the mean image
            mean = torch.full_like(mean, cfg.data.norm_mean)
        train = _to_device(data.train, rt.data_device)
        evals = {"test": _to_device(data.test, rt.device)}
        if data.val is not None:
            evals["val"] = _to_device(data.val, rt.device)
        # Model init uses the global RNG; fork it so that no state leaks to other trials.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            width, channels = cfg.model.width, int(train.images.shape[1])
            model = create_model(cfg.model.name, data.num_classes, width, channels)
            model = rt.prepare(_scaled(model, cfg.data.norm_std))
        net: nn.Module = torch.compile(model) if cfg.perf.compile else model  # type: ignore[assignment]
        loss_fn = create_loss(cfg.loss.name, **dict(cfg.loss.params))
        optimizer = create_optimizer(model.parameters(), cfg.optim)
        return cls(
            rt, data, mean.to(rt.device), train, evals, model, net, loss_fn, optimizer,
            create_schedule(optimizer, cfg.schedule, cfg.seed), rt.generator(cfg.seed),
        )  # fmt: skip


def _epoch(
    t: _Parts,
    cfg: TrialConfig,
    epoch: int,
    history: dict[str, list[float]],
    artifacts: dict[str, bytes],
) -> dict[str, float]:
    """Train one epoch, evaluate, step the schedule; the last epoch adds the final metrics."""
    lr = float(t.optimizer.param_groups[0]["lr"])
    last = cfg.schedule.epochs
    # Dropout draws from the global RNG: seed it from (seed, epoch), so a resumed trial draws
    # what an uninterrupted one does, and fork it so nothing leaks to other trials
    cuda = [t.rt.device] if t.rt.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)
        train_loss = _train_epoch(t.rt, t.net, t.loss_fn, t.optimizer, t.train, t.gen, t.mean, cfg)
    if not math.isfinite(train_loss):
        return diverged_metrics(history, epoch, last, lr, train_loss, t.data, t.evals)
    metrics = {"epoch": float(epoch), "lr": lr, contract.TRAIN_LOSS: train_loss}
    for split_name, split in t.evals.items():
        acc = evaluate(t.rt, t.net, split, t.mean, t.data.num_classes, cfg.eval.batch_size)
        metrics.update({f"{split_name}_{k}": v for k, v in acc.compute().items()})
        if epoch == last and split_name == "test":
            artifacts[contract.RELIABILITY_FILE] = json.dumps(acc.reliability()).encode()
    # the schedule reads the accuracy of its split (spinal_restart; the others ignore it)
    t.scheduler.step(100.0 - metrics.get(f"{cfg.schedule.reads}_top1_error", math.nan))
    if epoch % cfg.eval.train_every == 0 or epoch == last:
        values = memorization(t.rt, t.net, t.train, t.mean, cfg.eval.batch_size)
        metrics.update({f"train_{k}": v for k, v in values.items()})
    for key, value in metrics.items():
        history.setdefault(key, []).append(value)
    if epoch == last:
        metrics.update(final_metrics(history, cfg.eval.final_window, t.data))
        if cfg.eval.adversarial:
            test = t.evals["test"]
            adv = adversarial_errors(
                t.model, test.images, test.labels, t.mean, cfg.eval.adv_images,
                cfg.eval.adv_seed, cfg.eval.batch_size,
            )  # fmt: skip
            metrics.update({contract.FINAL_PREFIX + k: v for k, v in adv.items()})
    return metrics


class _InputScale(nn.Module):
    """Divides the (mean-subtracted) input by a dataset's std: torchvision's Normalize."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.scale = 1.0 / std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _scaled(model: nn.Module, std: float) -> nn.Module:
    return model if std == 1.0 else nn.Sequential(_InputScale(std), model)


def _train_epoch(
    rt: Runtime,
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Split,
    gen: torch.Generator,
    mean: torch.Tensor,
    cfg: TrialConfig,
) -> float:
    model.train()
    total = torch.zeros((), dtype=torch.float64, device=rt.device)
    batches = rt.batches(train.images, train.labels, cfg.schedule.batch_size, gen, mean, cfg.data)
    for x, y in batches:
        with rt.autocast():
            loss = loss_fn(rt.forward(model, x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * y.numel()  # stays on the device: no sync per step
    return total.item() / len(train)


@torch.no_grad()
def memorization(
    rt: Runtime, model: nn.Module, train: Split, mean: torch.Tensor, batch_size: int
) -> dict[str, float]:
    """Clean accuracy and memorised / corrected shares of flipped labels (un-augmented)."""
    model.eval()
    acc = MemorizationAccumulator(rt.device)
    clean = train.labels if train.clean_labels is None else train.clean_labels
    for start in range(0, len(train), batch_size):
        sl = slice(start, start + batch_size)
        x = normalize(train.images[sl].to(rt.device), mean)
        acc.update(rt.forward(model, x), train.labels[sl].to(rt.device), clean[sl].to(rt.device))
    return acc.compute()


@torch.no_grad()
def evaluate(
    rt: Runtime,
    model: nn.Module,
    split: Split,
    mean: torch.Tensor,
    num_classes: int,
    batch_size: int,
) -> EvalAccumulator:
    """One un-augmented pass over `split`; `.compute()` gives the metrics."""
    model.eval()
    acc = EvalAccumulator(num_classes, rt.device)
    for x, y in eval_batches(split.images, split.labels, batch_size, mean):
        acc.update(rt.forward(model, x), y)
    return acc


def _to_device(split: Split, device: torch.device) -> Split:
    return Split(
        split.images.to(device),
        split.labels.to(device),
        None if split.coarse is None else split.coarse.to(device),
        None if split.clean_labels is None else split.clean_labels.to(device),
    )


def _restore(
    state: Mapping[str, Any],
    cfg: TrialConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Schedule,
    gen: torch.Generator,
    history: dict[str, list[float]],
) -> int:
    if state.get("format") != CHECKPOINT_FORMAT or state.get("config_hash") != cfg.config_hash():
        raise ValueError(
            f"checkpoint does not belong to this trial config (hash {state.get('config_hash')} "
            f"!= {cfg.config_hash()})"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("rng_device", "cpu") != gen.device.type:
        raise ValueError(
            f"checkpoint drew its batches on {state.get('rng_device')}, this run on "
            f"{gen.device.type}: resume it on the same kind of device (or set device/perf.path)"
        )
    gen.set_state(state["rng"])
    history.update({k: list(v) for k, v in state["history"].items()})
    return int(state["epoch"])
