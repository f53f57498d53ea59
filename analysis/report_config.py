"""What a report is asked for (`ReportConfig`, the `study report` options) and what it
resolves to against the study's own `analysis` section, read from the stored study spec
(`Settings`): metric, reference, margins, method, confirmatory family and claims."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis.claims import Claim
from analysis.family import DEFAULT_METHOD, METHODS
from study import contract as c


@dataclass(frozen=True)
class ReportConfig:
    """None = the study's own `analysis` section (its stored spec), else the
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
    family_method: str = DEFAULT_METHOD
    primary: tuple[str, ...] | None = None
    latex: bool = False  # also `comparisons.tex`, a booktabs table (`analysis.latex`)

    def resolved(self, spec: Mapping[str, Any]) -> Settings:
        """Every choice made: this config's, else the stored spec's `analysis` (and
        `sequential`) sections', else the defaults."""
        stated_analysis = dict(spec.get("analysis") or {})

        def pick(value: object, key: str, default: object) -> str:
            return str(value if value is not None else stated_analysis.get(key, default))

        if self.family_method not in METHODS:
            raise ValueError(f"family method {self.family_method!r}: allowed {', '.join(METHODS)}")
        stated = tuple(stated_analysis.get("primary") or ())
        primary = stated if self.primary is None else tuple(self.primary)
        beta = (spec.get("sequential") or {}).get("beta_futility")
        stated_claims = stated_analysis.get("claims") or ()
        return Settings(
            metric=pick(self.metric, "metric", c.DEFAULT_METRIC),
            reference=pick(self.reference, "reference", "ce"),
            alpha=self.alpha,
            min_effect=float(pick(self.min_effect, "min_effect", 0.5)),
            seed=self.seed,
            n_resamples=self.n_resamples,
            ci_method=self.ci_method,
            selects_on_test=bool(stated_analysis.get("selects_on_test", False)),
            family_method=self.family_method,
            primary=primary,
            stated_primary=stated,
            claims=tuple(Claim.from_dict(d) for d in stated_claims if d["candidate"] in primary),
            beta_futility=float(beta) if beta is not None else None,
            latex=self.latex,
            pair_on=str(stated_analysis.get("pair_on", "seed")),
        )


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
    family_method: str = DEFAULT_METHOD
    primary: tuple[str, ...] = ()
    stated_primary: tuple[str, ...] = ()
    claims: tuple[Claim, ...] = field(default_factory=tuple)
    beta_futility: float | None = None
    latex: bool = False
    pair_on: str = "seed"  # "hardware": pairs only within one kind of hardware

    @property
    def post_hoc(self) -> bool:
        """A confirmatory family other than the one the study stated before it ran."""
        return set(self.primary) != set(self.stated_primary)
