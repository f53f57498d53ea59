"""What a report is asked for (`ReportConfig`, the `study report` options) and what it
resolves to against the study's own `analysis` section, as its parent run records it
(`Settings`): metric, reference, margins, method, confirmatory family and claims."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from analysis.claims import Claim
from analysis.family import METHODS
from study import contract as c


@dataclass(frozen=True)
class ReportConfig:
    """None = the study's own `analysis` section (recorded on its parent run), else the
    defaults: final_paper_top5_error, reference ce, smallest gain of interest 0.5, no
    primary candidates. `primary` other than the study's makes the report post hoc."""

    metric: str | None = None
    reference: str | None = None
    alpha: float = 0.05
    min_effect: float | None = None
    seed: int = 0
    n_resamples: int = 9999
    ci_method: str = "t"
    all_curves: bool = False  # read every per-epoch metric, not only those the report uses
    family_method: str = "maxt"
    primary: tuple[str, ...] | None = None

    def resolved(self, parent_params: dict[str, str]) -> Settings:
        def pick(value: object, key: str, default: object) -> str:
            chosen = value if value is not None else parent_params.get(f"analysis.{key}", default)
            return str(chosen)

        if self.family_method not in METHODS:
            raise ValueError(f"family method {self.family_method!r}: allowed {', '.join(METHODS)}")
        stated = tuple(_literal(parent_params.get("analysis.primary"), ()))
        primary = stated if self.primary is None else tuple(self.primary)
        beta = parent_params.get("sequential.beta_futility")
        stated_claims = _literal(parent_params.get("analysis.claims"), ())
        return Settings(
            metric=pick(self.metric, "metric", c.DEFAULT_METRIC),
            reference=pick(self.reference, "reference", "ce"),
            alpha=self.alpha,
            min_effect=float(pick(self.min_effect, "min_effect", 0.5)),
            seed=self.seed,
            n_resamples=self.n_resamples,
            ci_method=self.ci_method,
            selects_on_test=parent_params.get("analysis.selects_on_test") == "True",
            family_method=self.family_method,
            primary=primary,
            stated_primary=stated,
            claims=tuple(Claim.from_dict(d) for d in stated_claims if d["candidate"] in primary),
            beta_futility=float(beta) if beta else None,
        )


def _literal(text: str | None, default: Any) -> Any:
    """A tuple or list as the parent run's params record it (`str` of the value)."""
    if not text:
        return default
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return default


@dataclass(frozen=True)
class Settings:
    """A `ReportConfig` with every choice made."""

    metric: str
    reference: str
    alpha: float
    min_effect: float
    seed: int
    n_resamples: int
    ci_method: str
    selects_on_test: bool = False
    family_method: str = "maxt"
    primary: tuple[str, ...] = ()
    stated_primary: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = field(default_factory=tuple)
    beta_futility: float | None = None

    @property
    def post_hoc(self) -> bool:
        """A confirmatory family other than the one the study stated before it ran."""
        return set(self.primary) != set(self.stated_primary)
