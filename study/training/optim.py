"""Optimisers and learning-rate schedules by registry (torch.optim does the work).

Optimisers (`optim.name`): `sgd` (default; the first paper: lr 0.1, momentum 0.9, weight decay
5e-4), `adam` (Kingma & Ba 2015; betas (0.9, 0.999); the second paper's SpinalNet recipe: lr
0.005, no weight decay) and `adamw` (Loshchilov & Hutter 2019, decoupled weight decay).
`optim.momentum` and `optim.nesterov` apply to `sgd` only.

Schedules (`schedule.name`), stepped once per epoch with the epoch's accuracy on the split the
schedule reads:

* `step` (default): lr × gamma every `step_size` epochs (StepLR; the first paper);
* `cosine`: cosine annealing from lr to 0 over the epochs (Loshchilov & Hutter 2017);
* `spinal_restart`: SpinalNet's rule (Kabir et al. 2020, EMNIST scripts): after each epoch
  whose accuracy did not improve on the best so far, lr ← lr₀·U³ with U ~ Uniform(0, 1) drawn
  from the schedule's own generator (seeded by the trial seed, part of the checkpoint, so a
  resumed trial draws the same). The accuracy is the validation split's (`schedule.reads:
  val`, the default) — SpinalNet reads the test split, which is model selection on the test
  set and allowed only with `reads: test` in a study that says so (`analysis.selects_on_test`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch

from study.registry import Registry


class OptimConfig(Protocol):
    """What an optimiser reads of `study.training.config.OptimConfig` (a Protocol: the config
    imports this module to validate names, so this module does not import the config)."""

    @property
    def name(self) -> str: ...
    @property
    def lr(self) -> float: ...
    @property
    def momentum(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def nesterov(self) -> bool: ...


class ScheduleConfig(Protocol):
    """What a schedule reads of `study.training.config.ScheduleConfig`."""

    @property
    def name(self) -> str: ...
    @property
    def epochs(self) -> int: ...
    @property
    def step_size(self) -> int: ...
    @property
    def gamma(self) -> float: ...


Params = Iterable[torch.nn.Parameter]
OPTIMIZERS: Registry[Callable[[Params, OptimConfig], torch.optim.Optimizer]] = Registry("optimizer")


@OPTIMIZERS.register("sgd")
def _sgd(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)  # fmt: skip


@OPTIMIZERS.register("adam")
def _adam(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adamw")
def _adamw(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def create_optimizer(params: Params, cfg: OptimConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(cfg.name, "optim.name")(params, cfg)


class Schedule(Protocol):
    """Steps once per epoch, given that epoch's accuracy (%) on the split it reads."""

    def step(self, accuracy: float) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class _TorchSchedule:
    """A torch.optim.lr_scheduler that ignores the accuracy."""

    def __init__(self, inner: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.inner = inner

    def step(self, accuracy: float) -> None:
        self.inner.step()

    def state_dict(self) -> dict[str, Any]:
        return dict(self.inner.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


class RandomRestart:
    """SpinalNet's restart rule (module docstring)."""

    def __init__(self, optimizer: torch.optim.Optimizer, seed: int) -> None:
        self.optimizer = optimizer
        self.base_lr = [float(g["lr"]) for g in optimizer.param_groups]
        self.best = -math.inf
        self.gen = torch.Generator().manual_seed(seed)

    def step(self, accuracy: float) -> None:
        if accuracy > self.best:
            self.best = accuracy
            return
        u = float(torch.rand((), generator=self.gen))
        for group, lr in zip(self.optimizer.param_groups, self.base_lr, strict=True):
            group["lr"] = lr * u**3

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "base_lr": self.base_lr, "rng": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.base_lr = float(state["best"]), list(state["base_lr"])
        self.gen.set_state(state["rng"])


SCHEDULES: Registry[Callable[[torch.optim.Optimizer, ScheduleConfig, int], Schedule]] = Registry(
    "schedule"
)


@SCHEDULES.register("step")
def _step(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, seed: int) -> Schedule:
    return _TorchSchedule(torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma))


@SCHEDULES.register("cosine")
def _cosine(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, seed: int) -> Schedule:
    return _TorchSchedule(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs))


@SCHEDULES.register("spinal_restart")
def _restart(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, seed: int) -> Schedule:
    return RandomRestart(optimizer, seed)


def create_schedule(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, seed: int) -> Schedule:
    return SCHEDULES.get(cfg.name, "schedule.name")(optimizer, cfg, seed)
