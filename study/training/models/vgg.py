"""VGG-5 and Spinal VGG-5 of SpinalNet (Kabir et al. 2020, arXiv 2007.03347; repository
dipuk0506/SpinalNet, `MNIST_VGG/EMNIST_letters_VGG_and _SpinalVGG.py`), the models of the
EMNIST-Letters leaderboard that the second paper (Ibraheem 2025, arXiv 2501.13709) trains.

Trunk, at width w (w = 64 is the published net): conv 3×3 (padding 1, with bias) + BatchNorm +
ReLU in blocks [w, w], [2w, 2w], [4w, 4w, 4w], [4w, 4w, 4w], each followed by a 2×2 max-pool
(28 → 14 → 7 → 3 → 1), then a global average pool (the identity at 28 × 28, where the trunk
ends at 1 × 1; it lets any input of 16 × 16 or more through). Heads:

* `vgg5`: Dropout(0.5), Linear(4w, 8w), BatchNorm1d, ReLU, Dropout(0.5), Linear(8w, classes);
* `spinal_vgg5`: the 4w features split in halves h₁, h₂ (2w each) fed to four layers
  Dropout(0.5) + Linear(·, 2w) + BatchNorm1d + ReLU in a chain, s₁ = f₁(h₁),
  s₂ = f₂([h₂, s₁]), s₃ = f₃([h₁, s₂]), s₄ = f₄([h₂, s₃]), then Dropout(0.5) +
  Linear(8w, classes) on [s₁, s₂, s₃, s₄].

Parameters at w = 64, 1 input channel (checked in tests/training/test_models.py): vgg5 3,654,362 for
26 classes and 3,672,830 for 62; spinal_vgg5 3,637,978 and 3,656,446 — the published code's counts.
Multiply-adds forward per 28 × 28 image: 161.03 M (vgg5, 26 classes; 160.88 M of them in the
convolutions). SpinalNet returns log_softmax and trains with cross entropy on it, which equals cross
entropy on the logits (log_softmax is idempotent): these models return logits, as every loss here
expects. Weights use PyTorch's default initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

from study.training.models.registry import MODELS


def _block(c_in: int, c_out: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1),
                   nn.BatchNorm2d(c_out), nn.ReLU()]  # fmt: skip
    return [*layers, nn.MaxPool2d(2)]


class VGG5(nn.Module):
    """The trunk and either head (module docstring)."""

    def __init__(self, num_classes: int, width: int, in_channels: int, spinal: bool) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_block(in_channels, w, 2), *_block(w, 2 * w, 2), *_block(2 * w, 4 * w, 3),
            *_block(4 * w, 4 * w, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.split = 2 * w
        self.head: nn.Module
        if spinal:
            self.spinal = nn.ModuleList(
                self._dense(self.split if i == 0 else 2 * self.split, self.split) for i in range(4)
            )
            self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(4 * self.split, num_classes))
        else:
            self.spinal = nn.ModuleList()
            self.head = nn.Sequential(
                *self._dense(4 * w, 8 * w), nn.Dropout(0.5), nn.Linear(8 * w, num_classes)
            )

    @staticmethod
    def _dense(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Dropout(0.5), nn.Linear(c_in, c_out), nn.BatchNorm1d(c_out),
                             nn.ReLU())  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        if not len(self.spinal):
            return self.head(features)
        h1, h2 = features[:, : self.split], features[:, self.split :]
        outs: list[torch.Tensor] = []
        for i, layer in enumerate(self.spinal):
            part = h1 if i % 2 == 0 else h2
            outs.append(layer(part if i == 0 else torch.cat([part, outs[-1]], dim=1)))
        return self.head(torch.cat(outs, dim=1))


@MODELS.register("vgg5")
def vgg5(num_classes: int = 26, width: int = 64, in_channels: int = 1) -> nn.Module:
    return VGG5(num_classes, width, in_channels, spinal=False)


@MODELS.register("spinal_vgg5")
def spinal_vgg5(num_classes: int = 26, width: int = 64, in_channels: int = 1) -> nn.Module:
    return VGG5(num_classes, width, in_channels, spinal=True)
