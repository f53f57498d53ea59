"""Stage `looks`: adaptive seeding (the `sequential` section). Every comparison (a candidate
loss against the reference in one setting of the other grid axes) is analysed at each look
(`sequential.looks` seeds) by `analysis.sequential.decide`; a decided comparison gets no more
seeds, an open one gets the next look's. One Tune experiment per look,
`<storage>/<name>/look-<n>`, holding the new seeds of the grid points still needed (a
reference point while any candidate of its setting is open).

Each look's verdicts are the stage's decision `look-<n>` (`study.orchestration.decisions`), taken
once and read back on a restart: a resumed study never re-decides, whatever its restored results.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from study import contract
from study.orchestration.spec.model import StudySpec
from study.orchestration.stages.base import (
    STAGES,
    Cost,
    StageContext,
    TrialResult,
    TuneExperiment,
    label_parts,
    label_value,
    trial_label,
)


def _key(point: Mapping[str, Any]) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def _loss_name(point: Mapping[str, Any]) -> str:
    loss = point.get("loss")
    return str(loss.get("name") if isinstance(loss, Mapping) else loss)


def comparisons(spec: StudySpec) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(id, candidate point, reference point) for every candidate × setting, grid order."""
    points = spec.grid_points()
    reference = {}
    for point in points:
        if _loss_name(point) == spec.analysis.reference:
            reference[_key({k: v for k, v in point.items() if k != "loss"})] = point
    out = []
    for point in points:
        setting = {k: v for k, v in point.items() if k != "loss"}
        if _loss_name(point) != spec.analysis.reference:
            out.append((trial_label(point), point, reference[_key(setting)]))
    return out


def _named(point: Mapping[str, Any]) -> dict[str, str]:
    """A comparison as the report names it: its candidate, and its setting (every axis but
    the loss; "" for a study of one setting)."""
    parts = label_parts(point)
    setting = ", ".join(p for k, p in parts.items() if k != "loss")
    return {"candidate": label_value(point.get("loss")), "setting": setting}


def sequential_design(spec: StudySpec) -> Any:
    """The `analysis.sequential.SequentialDesign` of the study: one comparison per candidate ×
    setting shares the family-wise α."""
    assert spec.sequential is not None
    return spec.sequential.design(len(comparisons(spec)))


def _needed(spec: StudySpec, open_ids: set[str]) -> list[dict[str, Any]]:
    """Grid points an open comparison still needs, in grid order."""
    keys = set()
    for cid, cand, ref in comparisons(spec):
        if cid in open_ids:
            keys |= {_key(cand), _key(ref)}
    return [p for p in spec.grid_points() if _key(p) in keys]


def _diffs(
    results: Sequence[Sequence[TrialResult]], cand: Mapping[str, Any], ref: Mapping[str, Any],
    metric: str, n: int,
) -> np.ndarray | None:  # fmt: skip
    """Paired differences (positive = candidate better) over seeds 0..n-1; None if a trial
    of them has no final metric (failed: the look cannot be analysed yet)."""
    from analysis.orientation import higher_is_better

    value: dict[tuple[str, int], float] = {}
    for trials in results:
        for t in trials:
            if t.ok and metric in t.metrics:
                point = {k: v for k, v in t.overrides.items() if k != "seed"}
                value[(_key(point), int(t.overrides["seed"]))] = float(t.metrics[metric])
    try:
        c = np.array([value[(_key(cand), s)] for s in range(n)])
        r = np.array([value[(_key(ref), s)] for s in range(n)])
    except KeyError:
        return None
    return c - r if higher_is_better(metric) else r - c


class LooksStage:
    name = contract.LOOKS_STAGE
    order = 10
    compared = True

    def active(self, spec: StudySpec) -> bool:
        return spec.sequential is not None

    def expected(self, spec: StudySpec, ctx: StageContext | None = None) -> int:
        assert spec.sequential is not None
        open_ids = {cid for cid, _, _ in comparisons(spec)}
        total, before = 0, 0
        for n in spec.sequential.looks:
            if not open_ids:
                break
            total += len(_needed(spec, open_ids)) * (n - before)
            before = n
            stored = ctx.decision(contract.look_key(n)) if ctx is not None else None
            if stored is not None:
                open_ids -= {c for c, v in stored.items() if v["decision"] != "continue"}
        return total

    def cost(self, spec: StudySpec) -> Cost:
        assert spec.sequential is not None
        last = spec.sequential.looks[-1]
        cfgs = [(spec.base.with_overrides(p), last) for p in spec.grid_points()]
        return Cost(len(spec.sequential.looks), cfgs, bound="every comparison to the last look")

    def null_trials(self, spec: StudySpec, sims: int = 500) -> float:
        """Expected trials when no comparison has an effect, at the design's assumed sd of paired
        differences (`sequential.sd`, default 0.6 × min_effect): a reference point runs as
        long as the longest comparison of its setting."""
        from analysis.sequential import null_seeds

        seq = spec.sequential
        assert seq is not None
        used = null_seeds(sequential_design(spec), seq.sd or 0.6 * seq.min_effect, sims)
        refs: dict[str, list[int]] = {}
        for i, (_, _, ref) in enumerate(comparisons(spec)):
            refs.setdefault(_key(ref), []).append(i)
        per_ref = sum(used[:, cols].max(axis=1) for cols in refs.values())
        return float((used.sum(axis=1) + per_ref).mean())

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]:
        from analysis.sequential import boundary, decide_with_bounds

        spec, design = ctx.spec, sequential_design(ctx.spec)
        assert spec.sequential is not None
        open_ids = {cid for cid, _, _ in comparisons(spec)}
        before = 0
        for n in spec.sequential.looks:
            if not open_ids:
                return
            grid = tuple(
                {**p, "seed": s} for p in _needed(spec, open_ids) for s in range(before, n)
            )
            tags = {contract.LOOK_TAG: str(n)}
            yield [TuneExperiment(contract.look_key(n), self.name, spec.base, grid, tags=tags)]
            before = n
            verdicts = ctx.decision(contract.look_key(n))
            if verdicts is None:
                verdicts = {}
                for cid, cand, ref in comparisons(spec):
                    if cid not in open_ids:
                        continue
                    d = _diffs(ctx.results[self.name], cand, ref, spec.analysis.metric, n)
                    if d is None:
                        return  # a trial failed: `study resume` retries it, then decides
                    decision, info = decide_with_bounds(d, design)
                    crossed = boundary(decision, info, design)
                    verdicts[cid] = {"decision": decision, "look": n, **info, "boundary": crossed,
                                     **_named(cand)}  # fmt: skip
                ctx.decide(contract.look_key(n), verdicts)
            open_ids -= {c for c, v in verdicts.items() if v["decision"] != "continue"}


STAGES.register(LooksStage.name)(LooksStage())
