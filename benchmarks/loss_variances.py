"""The losses' variances with no pooling beyond a level per setting and per loss: the
fixed-effects bound that `benchmarks/stats_calibration.py --bound` sets beside
`analysis.loss_variances` (numpy; each setting's REML score and information from
`analysis.loss_variances.score_info`).

    log σ²(loss, setting) = a(setting) + c(loss),   c(reference) = 0,

fitted by Fisher scoring on the sum of the settings' REML log-likelihoods of their paired
differences, with Cov(η̂) = X (Xᵀ I X)⁻¹ Xᵀ. A row's variance of differences is
σ̂²_c + σ̂²_0, its log's variance by the delta method, its degrees of freedom ν from
ψ₁(ν/2) = that variance. It is `het`'s own variance structure, estimated without a prior and
without a row term: a bound, not a method (a loss × setting interaction in the variances
would bias it).
"""

from __future__ import annotations

import numpy as np

from analysis.loss_variances import Setting, row_variances, score_info
from analysis.variances import trigamma_inverse


def fixed_effects(settings: list[Setting], iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Each row's variance of differences and its degrees of freedom (settings in order,
    each with the same candidates)."""
    count, losses = len(settings), len(settings[0].candidates) + 1
    x = np.column_stack([np.repeat(np.eye(count), losses, axis=0),
                         np.tile(np.eye(losses)[:, 1:], (count, 1))])  # fmt: skip
    start = [np.log(np.var(s.y, ddof=1) / 2) for s in settings]
    theta = np.concatenate([start, np.zeros(losses - 1)])
    size = count * losses
    for _ in range(iters):
        eta = x @ theta
        score, info = np.zeros(size), np.zeros((size, size))
        for k, s in enumerate(settings):
            part = slice(k * losses, (k + 1) * losses)
            score[part], info[part, part] = score_info(eta[part], s)
        fisher = x.T @ info @ x
        step = np.linalg.solve(fisher, x.T @ score)
        theta = theta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    parts = [slice(k * losses, (k + 1) * losses) for k in range(count)]
    s2, _, rcov = row_variances(settings, parts, x @ theta, x @ np.linalg.inv(fisher) @ x.T)
    return s2, 2 * trigamma_inverse(np.diag(rcov))
