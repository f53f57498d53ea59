"""Frozen, validated trial configuration.

A `TrialConfig` is everything one training run depends on. It is built from a nested mapping
(YAML) with `TrialConfig.from_dict`, flattened to dotted keys with `to_flat_dict` (MLflow params,
hashes) and changed with `with_overrides({"optim.lr": 0.2, "loss": {"name": "focal"}})`.
Unknown keys, wrong types and out-of-range values raise `ConfigError` naming the dotted key.

Defaults are the paper's protocol (Shim 2025, arXiv 2507.10574, Sec. 4): ResNet-18 on
CIFAR-100, SGD lr 0.1, momentum 0.9, weight decay 5e-4, StepLR ×0.1 every 50 epochs, 200 epochs,
batch 100, random crop (pad 4) + horizontal flip, per-pixel mean subtraction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.coerce import build, check, coerce, flatten, set_dotted


@dataclass(frozen=True)
class DataConfig:
    name: str = "cifar100"
    root: str = "./data"
    download: bool = False
    n_train: int | None = None  # keep the first n training images (smoke tests); None = all
    n_test: int | None = None
    val_fraction: float = 0.0  # stratified holdout taken from the training split
    val_seed: int = 0
    crop_padding: int = 4
    flip: bool = True
    rotation: float = 0.0  # random rotation in [−r, r] degrees (study.training.warp)
    perspective: float = 0.0  # random perspective distortion scale (0: off)
    perspective_p: float = 0.5  # probability of a perspective warp per image
    size: int | None = None  # resize the images to size × size at load (bilinear); None: keep
    outputs: int | None = None  # model outputs when the dataset offers a choice (EMNIST: 26, 62)
    norm_mean: float | None = None  # None: per-pixel mean image (the paper); else x/255 − mean
    norm_std: float = 1.0  # …divided by this (torchvision's Normalize(mean, std))

    def __post_init__(self) -> None:
        check(0.0 <= self.val_fraction < 1.0, "val_fraction", self.val_fraction, "in [0, 1)")
        check(self.crop_padding >= 0, "crop_padding", self.crop_padding, ">= 0")
        check(0.0 <= self.rotation <= 180.0, "rotation", self.rotation, "in [0, 180]")
        check(0.0 <= self.perspective < 1.0, "perspective", self.perspective, "in [0, 1)")
        check(0 <= self.perspective_p <= 1, "perspective_p", self.perspective_p, "in [0, 1]")
        check(self.size is None or self.size >= 4, "size", self.size, "null or >= 4")
        check(self.norm_std > 0, "norm_std", self.norm_std, "> 0")
        for key in ("n_train", "n_test"):
            value = getattr(self, key)
            check(value is None or value >= 1, key, value, "null or >= 1")


NOISE_SEED_TRIAL = "trial"


@dataclass(frozen=True)
class NoiseConfig:
    """Label noise. `seed`: the draw of flipped labels. `trial` (default) = the trial's `seed`,
    so the seeds of one loss in one setting see independent draws (the draw-to-draw variance
    enters the CI) while the pairs of a comparison (same seed, another loss) share theirs; an
    integer fixes one draw for every seed."""

    kind: str = "none"
    rate: float = 0.0
    seed: int | str = NOISE_SEED_TRIAL
    path: str | None = None  # labels file of kind `human` (CIFAR-100N's CIFAR-100_human.pt)
    apply_to_val: bool = False  # the validation holdout keeps clean labels by default

    def __post_init__(self) -> None:
        fixed = isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0
        check(fixed or self.seed == NOISE_SEED_TRIAL, "seed", self.seed,
               f"an integer >= 0, or {NOISE_SEED_TRIAL!r}")  # fmt: skip

    def draw_seed(self, trial_seed: int) -> int:
        """The seed the noisy labels are actually drawn with (recorded on the run)."""
        return trial_seed if self.seed == NOISE_SEED_TRIAL else int(self.seed)

    def for_trial(self, trial_seed: int) -> NoiseConfig:
        """This config with `seed` resolved to the integer draw seed."""
        return dataclasses.replace(self, seed=self.draw_seed(trial_seed))


@dataclass(frozen=True)
class ModelConfig:
    name: str = "resnet18"
    width: int = 64  # channels of the first stage; 64 is the standard ResNet-18

    def __post_init__(self) -> None:
        check(self.width >= 1, "width", self.width, ">= 1")


@dataclass(frozen=True)
class LossConfig:
    """`name` plus the loss's own hyperparameters, e.g. `{name: focal, gamma: 2.0}`."""

    name: str = "ce"
    params: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], prefix: str) -> LossConfig:
        """`{name: focal, gamma: 2.0}`: the name, and every other key a float hyperparameter
        (which ones a loss takes, its registry entry says: `TrialConfig` checks them)."""
        name = raw.get("name", "ce")
        check(isinstance(name, str), f"{prefix}name", name, "a loss name")
        params = {str(k): coerce(v, float, f"{prefix}{k}") for k, v in raw.items() if k != "name"}
        return cls(name=name, params=params)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "sgd"  # sgd | adam | adamw (study.training.optim)
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False

    def __post_init__(self) -> None:
        check(self.lr > 0, "lr", self.lr, "> 0")
        check(0.0 <= self.momentum < 1.0, "momentum", self.momentum, "in [0, 1)")
        check(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "step"  # step | cosine | spinal_restart (study.training.optim)
    epochs: int = 200
    batch_size: int = 100
    step_size: int = 50  # StepLR: lr × gamma every step_size epochs
    gamma: float = 0.1
    reads: str = "val"  # the split whose accuracy spinal_restart reads: val | test

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", self.epochs, ">= 1")
        check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        check(self.step_size >= 1, "step_size", self.step_size, ">= 1")
        check(0.0 < self.gamma <= 1.0, "gamma", self.gamma, "in (0, 1]")
        check(self.reads in ("val", "test"), "reads", self.reads, "val or test")


@dataclass(frozen=True)
class EvalConfig:
    batch_size: int = 1000
    final_window: int = 11  # final_paper_* = mean over the last 11 epochs (190–200 of 200)
    train_every: int = 10  # memorisation metrics on the un-augmented training set (and last)
    adversarial: bool = False  # final FGSM / PGD error (L∞, ε = 8/255 in pixel space)
    adv_images: int = 1000  # seeded test subset for the attacks
    adv_seed: int = 0

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, "batch_size", self.batch_size, ">= 1")
        check(self.final_window >= 1, "final_window", self.final_window, ">= 1")
        check(self.train_every >= 1, "train_every", self.train_every, ">= 1")
        check(self.adv_images >= 1, "adv_images", self.adv_images, ">= 1")


@dataclass(frozen=True)
class PerfConfig:
    """How a trial runs, not what it computes (see docs/performance.md).

    path: `fast` keeps the data on the device as uint8 and augments whole batches there from a
    generator on that device; `reference` is the classic pipeline: per-image crop and flip on
    the CPU, float32 batches copied to the device. Both draw the same crops and flips from the
    same (CPU) generator. `auto` = fast. amp: `auto` = bf16 autocast on CUDA, none on the CPU.
    channels_last: `auto` = on CUDA. compile: wrap the model in torch.compile.
    """

    path: str = "auto"
    amp: str = "auto"
    channels_last: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        check(self.path in ("auto", "fast", "reference"), "path", self.path,
               "auto, fast, reference")  # fmt: skip
        check(self.amp in ("auto", "bf16", "off"), "amp", self.amp, "auto, bf16, off")
        check(self.channels_last in ("auto", "on", "off"), "channels_last",
               self.channels_last, "auto, on, off")  # fmt: skip


@dataclass(frozen=True)
class TrialConfig:
    data: DataConfig = field(default_factory=DataConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    perf: PerfConfig = field(default_factory=PerfConfig)
    seed: int = 0  # model init, data order and augmentation (and the noise draw by default)
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    @property
    def noise_draw_seed(self) -> int:
        return self.noise.draw_seed(self.seed)

    def __post_init__(self) -> None:
        # Registries are imported here, not at module level: they import torch, which reading a
        # study's record never needs, and the data sources (behind the registry) use our types.
        from study.training import losses, models, noise, optim
        from study.training.data import registry as data

        source = data.DATASETS.get(self.data.name, "data.name")
        noise.check_noise(self.noise.kind, self.noise.rate, self.noise.path, source.has_coarse)
        models.MODELS.get(self.model.name, "model.name")
        optim.OPTIMIZERS.get(self.optim.name, "optim.name")
        optim.SCHEDULES.get(self.schedule.name, "schedule.name")
        self._check_choices()
        losses.check_loss(self.loss.name, self.loss.params)
        check(self.eval.final_window <= self.schedule.epochs, "eval.final_window",
               self.eval.final_window, f"<= schedule.epochs ({self.schedule.epochs})")  # fmt: skip
        check(
            self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
            "device",
            self.device,
            "auto, cpu, cuda or cuda:N",
        )

    def _check_choices(self) -> None:
        """Cross-field rules: outputs (label noise would flip into EMNIST's unused outputs),
        and what the restart schedule reads."""
        emnist, outputs = self.data.name == "emnist_letters", self.data.outputs
        allowed = "null, 26 or 62 for emnist_letters" if emnist else f"null for {self.data.name}"
        check(outputs in ((None, 26, 62) if emnist else (None,)), "data.outputs", outputs, allowed)
        check(outputs != 62 or self.noise.kind == "none", "data.outputs", 62, "26 with noise")
        if self.schedule.name == "spinal_restart" and self.schedule.reads == "val":
            check(self.data.val_fraction > 0, "schedule.reads", "val",
                   "test, or a validation holdout (data.val_fraction > 0) to read")  # fmt: skip

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> TrialConfig:
        return build(cls, raw or {})

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["loss"] = {"name": self.loss.name, **dict(self.loss.params)}
        return out

    def to_flat_dict(self) -> dict[str, Any]:
        return flatten(self.to_dict())

    def with_overrides(self, overrides: Mapping[str, Any]) -> TrialConfig:
        """A new config with dotted-key overrides applied (validated like the YAML)."""
        nested = self.to_dict()
        for key, value in overrides.items():
            set_dotted(nested, key, value)
        return TrialConfig.from_dict(nested)

    def with_absolute_paths(self) -> TrialConfig:
        """Data root and noise file resolved against the current directory: a Ray worker runs
        in a scratch directory, where a relative path would point elsewhere."""
        changes: dict[str, Any] = {"data.root": str(Path(self.data.root).expanduser().resolve())}
        if self.noise.path:
            changes["noise.path"] = str(Path(self.noise.path).expanduser().resolve())
        return self.with_overrides(changes)

    def config_hash(self) -> str:
        """Short stable hash of the resolved config (tags, checkpoint identity)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
