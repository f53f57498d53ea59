"""Classification losses behind one registry: `create_loss(name, **params)`, `list_losses()`.

Notation: z logits (N×K), q = softmax(z), c the (possibly noisy) label, ℓ = log q_c, y one-hot.
Every loss is an `nn.Module` whose `forward(logits, target)` returns the mean over the batch,
computed from `log_softmax` (never `log(softmax)`), in float32 at least (bf16/fp16 logits are
upcast), so loss and gradient stay finite for logits up to ±1e4. Its hyperparameters are its
constructor's keyword arguments, their ranges its `RANGES` (checked by `check_loss` before it
is built, and when a trial config is read).

Most losses of the family depend on the logits only through ℓ = log q_c: L = f(ℓ). For those,
`_TrueClassFn` evaluates f and its analytic gradient dL/dz = f'(ℓ)·(y − q) in one fused pass;
this keeps `lace` as cheap as cross entropy (a composition of log_softmax, exp and gather costs
about 1.2× here) and exact. The others (label smoothing, MIN-ENT, NCE+RCE) use autograd.
"""

from study.training.losses import other, true_class  # noqa: F401  (registers the losses)
from study.training.losses.registry import (
    LOSSES,
    check_loss,
    create_loss,
    list_losses,
    register_loss,
)
from study.training.losses.true_class import TrueClassLoss

__all__ = ["LOSSES", "TrueClassLoss", "check_loss", "create_loss", "list_losses", "register_loss"]
