"""Which way is better for a metric, by its name: errors, NLL, ECE, Brier, losses and
epochs-to-target are better when lower; anything else when higher. Pure and dependency-free: the
sequential stage of a study (`study.orchestration.stages.looks`) orients its paired differences with
it too."""

from __future__ import annotations

LOWER_IS_BETTER = ("error", "nll", "ece", "brier", "loss", "epochs_to")


def higher_is_better(metric: str) -> bool:
    """Errors, NLL, ECE, Brier and losses are better when lower; anything else when higher."""
    return not any(word in metric for word in LOWER_IS_BETTER)
