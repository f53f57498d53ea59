"""Evaluation metrics, accumulated on the device (one host sync per evaluation, not per batch).

* top-k error (percent): share of samples whose label is not among the k largest logits;
* NLL: mean −log q_c (nats);
* ECE (percent): 15 equal-width bins of top-1 confidence, Σ_b (n_b/n)·|acc_b − conf_b|
  (Guo et al. 2017);
* Brier: mean Σ_k (q_k − y_k)² (Brier 1950).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class EvalAccumulator:
    """Running sums for one evaluation pass; `compute()` returns the metrics by name."""

    def __init__(self, num_classes: int, device: torch.device, n_bins: int = 15) -> None:
        self.k = min(5, num_classes)
        self.n_bins = n_bins
        zeros = torch.zeros((), dtype=torch.float64, device=device)
        self.count = zeros.clone()
        self.top1 = zeros.clone()
        self.topk = zeros.clone()
        self.nll = zeros.clone()
        self.brier = zeros.clone()
        self.bin_count = torch.zeros(n_bins, dtype=torch.float64, device=device)
        self.bin_conf = torch.zeros(n_bins, dtype=torch.float64, device=device)
        self.bin_correct = torch.zeros(n_bins, dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logp = F.log_softmax(logits.float(), dim=1)
        probs = logp.exp()
        topk = logits.topk(self.k, dim=1).indices
        hit = topk == labels[:, None]
        correct1 = hit[:, 0]
        self.count += labels.numel()
        self.top1 += correct1.sum()
        self.topk += hit.any(dim=1).sum()
        self.nll += -logp.gather(1, labels[:, None]).sum()
        onehot = F.one_hot(labels, logits.shape[1]).to(probs.dtype)
        self.brier += (probs - onehot).pow(2).sum()
        conf = probs.max(dim=1).values
        # bin b holds confidences in (b/B, (b+1)/B]; conf > 0 always
        bins = (conf * self.n_bins).ceil().long().clamp_(1, self.n_bins) - 1
        self.bin_count.index_add_(0, bins, torch.ones_like(conf, dtype=torch.float64))
        self.bin_conf.index_add_(0, bins, conf.double())
        self.bin_correct.index_add_(0, bins, correct1.double())

    def reliability(self) -> dict[str, list[float]]:
        """Per confidence bin: sample count, mean confidence, accuracy (a reliability diagram)."""
        count = self.bin_count.clamp(min=1)
        return {
            "count": self.bin_count.tolist(),
            "confidence": (self.bin_conf / count).tolist(),
            "accuracy": (self.bin_correct / count).tolist(),
        }

    def compute(self) -> dict[str, float]:
        n = self.count.clamp(min=1)
        ece = (self.bin_correct - self.bin_conf).abs().sum() / n
        values = torch.stack(
            [
                100.0 * (1 - self.top1 / n),
                100.0 * (1 - self.topk / n),
                self.nll / n,
                100.0 * ece,
                self.brier / n,
            ]
        ).tolist()  # the one host sync
        return dict(zip(("top1_error", "top5_error", "nll", "ece", "brier"), values, strict=True))


def chance_metrics(num_classes: int) -> dict[str, float]:
    """What `EvalAccumulator.compute` gives a uniform predictor (q_k = 1/K for every class,
    ties broken at random): top-1 error 100·(1 − 1/K), top-5 error 100·(1 − min(5, K)/K),
    NLL ln K, ECE 0 (confidence 1/K, expected accuracy 1/K), Brier (1 − 1/K)² + (K − 1)/K²
    = 1 − 1/K. The score of a trial whose training diverged (`study.training.finals`)."""
    k = num_classes
    return {
        "top1_error": 100.0 * (1 - 1 / k),
        "top5_error": 100.0 * (1 - min(5, k) / k),
        "nll": math.log(k),
        "ece": 0.0,
        "brier": 1 - 1 / k,
    }


class MemorizationAccumulator:
    """What the network does with the training labels (un-augmented training set).

    * `clean_acc`: accuracy on samples whose label was not flipped;
    * `noisy_memorized`: share of flipped samples predicted as their *noisy* label;
    * `noisy_corrected`: share of flipped samples predicted as their *true* label.
    All in percent; the two noisy shares are omitted when nothing was flipped.
    """

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(5, dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor) -> None:
        pred = logits.argmax(dim=1)
        flipped = noisy != clean
        kept = ~flipped
        self.sums += torch.stack(
            [
                kept.sum(),
                (kept & (pred == clean)).sum(),
                flipped.sum(),
                (flipped & (pred == noisy)).sum(),
                (flipped & (pred == clean)).sum(),
            ]
        ).double()

    def compute(self) -> dict[str, float]:
        n_kept, kept_ok, n_flip, memorized, corrected = self.sums.tolist()  # one host sync
        out = {"clean_acc": 100.0 * kept_ok / max(n_kept, 1.0)}
        if n_flip > 0:
            out["noisy_memorized"] = 100.0 * memorized / n_flip
            out["noisy_corrected"] = 100.0 * corrected / n_flip
        return out
