"""How the second paper's published loss settings map onto `minent` and `mixent`.

    .venv/bin/python benchmarks/author_loss_settings.py

The author's README (rahmanoladi/Minimum-entropy-project) evaluates MIN-ENT with
`--base_1 2.02 --base_2 10.73 --loss_1_weight 0.839 --loss_2_weight 0.308` and MIX-ENT with
`--base_1 12.58 --base_2 12.45 --loss_1_weight 0.717 --loss_2_weight 0.943`; its script's
defaults are `--eps 1e-6`, learnable weights, and `--loss_weights_style square_decay`. The
loss code (`my_utils`) is not public. Reading each term as weight × (its natural-log form /
ln base):

    author = (a / ln b₁)·(−ln q_c) + (c / ln b₂)·R
           = scale · (−ln q_c + λ·R),  scale = a / ln b₁,  λ = (c · ln b₁) / (a · ln b₂)

R = H(q) for MIN-ENT, (−ln η)(1 − q_c) for MIX-ENT,

with (a, c) = (w₁, w₂) if the weights enter as they are, or (w₁², w₂²) under a "square"
style. Prints both readings; what stays unknown is printed with them.
"""

from __future__ import annotations

import math

SETTINGS = {  # loss: (base_1, base_2, loss_1_weight, loss_2_weight)
    "minent": (2.02, 10.73, 0.839, 0.308),
    "mixent": (12.58, 12.45, 0.717, 0.943),
}


def mapping(b1: float, b2: float, w1: float, w2: float, power: int) -> tuple[float, float]:
    a, c = w1**power, w2**power
    return a / math.log(b1), (c * math.log(b1)) / (a * math.log(b2))


def main() -> None:
    print("| loss | weights enter | λ | overall scale | η |")
    print("|---|---|---|---|---|")
    for loss, (b1, b2, w1, w2) in SETTINGS.items():
        for power, how in ((1, "as they are"), (2, "squared")):
            scale, lam = mapping(b1, b2, w1, w2, power)
            eta = "1e-6 (script default)" if loss == "mixent" else "–"
            print(f"| {loss} | {how} | {lam:.4f} | {scale:.4f} | {eta} |")


if __name__ == "__main__":
    main()
