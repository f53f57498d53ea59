"""Calibration of the fixed-design verdicts (`analysis.stats`) on simulated whole studies.

    .venv/bin/python benchmarks/stats_calibration.py [SIMS] [--draws D] [--only SCENARIO]
    .venv/bin/python benchmarks/stats_calibration.py --time-to-target SIMS | --model-checks SIMS
    .venv/bin/python benchmarks/stats_calibration.py --bound SIMS | --off-levels SIMS

A simulated study is what one report judges at once: C candidates and a reference in S = 6
settings, n seeds; every loss's trial at (setting, seed) is

    y = b(setting, seed) + θ(loss, setting) + sd(loss, setting)·ε,

b shared by the losses of a setting and seed (what pairing removes), so the m = C·S rows'
paired differences share the reference's errors within a setting. Scenarios:

* `hom`: every loss's sd = 0.3/√2 (paired differences of sd 0.3 = 0.3·min_effect), ε normal;
* `het`: the settings' sd spread geometrically over 40× and the first ⌈C/4⌉ candidates 3×
  noisier than the other losses of their setting: the rows' sd of paired differences span
  90× (0.1 … 9);
* `t3`: as `hom` with ε ~ t(3)/√3 (heavy tails, unit variance).

Per shape (C × S = 7 × 6, m = 42; 3 × 6, m = 18, the fewest rows per setting the losses'
variances take; 2 × 6, m = 12), n ∈ {3, 5, 10} and scenario, SIMS studies of each of two
kinds, min_effect = 1, α = 0.05:

* *signal*: candidate 0 gains 2 sd of its row's paired differences in every setting (6 rows),
  every other gain is 0. P(false gain/loss): the share of studies with any `gain` or `loss`
  at a true gain of 0, or any `loss` among the 6 (target ≤ α); P(any CI misses): any
  interval that excludes its true gain; power: the share of the 6 rows labelled `gain`
  (target ≥ 0.70 at n = 5, m = 42); width ratio: the median over rows of the interval's
  width against per-row Bonferroni's on the same data, 2·t(n − 1, 1 − α/2m)·sd/√n (target
  ≤ 0.60 at n = 5, m = 42, ≤ 0.50 at n = 3);
* *edge*: every true gain is +min_effect or −min_effect (alternating): P(any `equivalent`)
  (target ≤ α).

The verdicts come from the functions `compare_losses` runs (`analysis.seedmodel.fit`,
`analysis.family.max_t`, `finish`), checked first against `compare_losses` itself on one
study; `--draws` Monte-Carlo draws for each study's critical value (the report uses 100,000;
the Monte-Carlo error of c at 20,000 is ≈ 1 %, not a bias). The variances are the report's
default's, `seedmodel.fit`'s losses' model (`analysis.loss_variances`, `--family-method
maxt-losses`; with two rows in every setting, as at m = 12, a level per setting and per loss,
`analysis.scale_variances`); `--variances rows` judges with the rows' model (`maxt`).
`--off-levels` puts one loss's variance off those levels: `hom` with the last candidate's sd
3× or 10× in the first setting only, a null row, and counts the studies in which the
default declined its levels (the rows' check, `analysis.scale_variances`). A further row
calibrates time to target (`analysis.targets`) with two identical losses. Monte-Carlo sd of
a rate p: √(p(1 − p)/SIMS).

`--bound` asks how much power and how narrow an interval the variances' information allows
at m = 42, n = 5 (or C candidates × 6 settings at N seeds: `--bound-shape C --bound-n N`): the
signal studies (in `het` with the gain on a noisy candidate, as above, and on a stable one)
judged by the same max-t family six ways, with the rows' model's variances; with each row's
variance from a fixed-effects gamma GLM (statsmodels, log link) of the rows' sample
variances on setting + candidate, on ν_i = 2/Var(η̂_i) degrees of freedom (the χ² whose
relative variance matches), which treats the rows of a setting as independent; with the
same GLM told the scenario's levels exactly (`hom`, `t3`: one variance; `het`: the setting's
level and which candidates are the noisy ones); with the losses' own variances, a level per
setting and per loss fitted by maximum likelihood on the rows' differences and their
covariances (`benchmarks/loss_variances.py`: `het`'s true structure, with no prior and no
row term); with the losses' model of `analysis.loss_variances` (random effects; also with two rows
per setting, where `seedmodel.fit` would not use it); and with the true variances (known,
ν = 10⁶). A way that does not settle on a study judges it with the rows' model, and the
output counts those studies.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import loss_variances

from analysis import family, seedmodel
from analysis.loss_variances import Setting
from analysis.stats import compare_losses

ALPHA, MIN_EFFECT, SETTINGS, BASE_SD = 0.05, 1.0, 6, 0.3
SCENARIOS = ("hom", "het", "t3")
SHAPES = (7, 3, 2)  # candidates per setting
NS = (3, 5, 10)


def loss_sd(scenario: str, candidates: int) -> np.ndarray:
    """(settings × losses) sd of each loss's errors; column 0 is the reference."""
    sd = np.full((SETTINGS, candidates + 1), BASE_SD / math.sqrt(2))
    if scenario == "het":
        sd *= np.geomspace(1 / 3, 13.4, SETTINGS)[:, None]
        sd[:, 1 : 1 + math.ceil(candidates / 4)] *= 3
    return sd


def draw(scenario: str, sd: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    eps = rng.standard_t(3, (*sd.shape, n)) / math.sqrt(3) if scenario == "t3" else (
        rng.standard_normal((*sd.shape, n)))  # fmt: skip
    return sd[..., None] * eps


def rows_of(errors: np.ndarray, gains: np.ndarray) -> list[seedmodel.Row]:
    """The rows of one study: paired differences candidate − reference plus the true gain
    (the shared seed effect b cancels in each difference)."""
    seeds = pd.RangeIndex(errors.shape[2])
    return [
        seedmodel.Row(f"c{j}", (s,), pd.Series(gains[s, j] + errors[s, j + 1] - errors[s, 0],
                                               index=seeds))
        for s in range(errors.shape[0]) for j in range(errors.shape[1] - 1)
    ]  # fmt: skip


def judge(
    rows: list[seedmodel.Row], seed: int, draws: int, variances: str = "rows",
    model: seedmodel.Fit | None = None,
) -> pd.DataFrame:  # fmt: skip
    """`compare_losses`' intervals and verdicts for one family of rows (its maxt path), with
    the variance model `variances` of `seedmodel.fit` (or its `model` of the rows, fitted)."""
    model = model or seedmodel.fit(rows, variances)
    frame = pd.DataFrame({"gain": model.gain, "se": model.se, "df": model.df,
                          "n_pairs": [len(r.diffs) for r in rows]})  # fmt: skip
    out = family.max_t(frame, model.corr, ALPHA, seed, draws, model.wcorr)
    return family.finish(out, ALPHA, MIN_EFFECT, planning=False)


def bonferroni_width(rows: list[seedmodel.Row]) -> np.ndarray:
    m, n = len(rows), np.array([len(r.diffs) for r in rows])
    sd = np.array([r.diffs.std(ddof=1) for r in rows])
    return 2 * stats.t.ppf(1 - ALPHA / (2 * m), n - 1) * sd / np.sqrt(n)


def check_against_compare_losses(rng: np.random.Generator, draws: int, variances: str) -> None:
    """The rows judged here get `compare_losses`' intervals and verdicts (its method with
    the variance model `variances`)."""
    sd = loss_sd("het", 3)
    errors, gains = draw("het", sd, 5, rng), rng.choice([0.0, 1.0, 3.0], (SETTINGS, 3))
    base = rng.normal(30, 1, (SETTINGS, 5))  # the seed effect b: it cancels
    frame = pd.DataFrame([
        {"cell": s, "seed": k, "loss_label": "ce" if j == 0 else f"c{j - 1}",
         "error": base[s, k] - errors[s, j, k] - (gains[s, j - 1] if j else 0.0)}
        for s in range(SETTINGS) for j in range(4) for k in range(5)
    ])  # fmt: skip
    method = next(k for k, v in family.MODEL_METHODS.items() if v == variances)
    slow = compare_losses(frame, "error", setting_keys=["cell"], min_effect=MIN_EFFECT,
                          seed=7, draws=draws, describe=False, family_method=method)  # fmt: skip
    fast = judge(rows_of(errors, gains), 7, draws, variances)
    assert (slow["verdict"].to_numpy() == fast["verdict"].to_numpy()).all()
    assert np.allclose(slow["ci_low"], fast["ci_low"]) and np.allclose(
        slow["tost_high"], fast["tost_high"]
    )


def rates(
    scenario: str,
    c: int,
    n: int,
    sims: int,
    draws: int,
    rng: np.random.Generator,
    variances: str = "rows",
    off: float = 1.0,
) -> dict:
    sd = loss_sd(scenario, c)
    sd[0, -1] *= off  # `--off-levels`: the last candidate's sd × off in the first setting only
    row_sd = np.sqrt(sd[:, 1:] ** 2 + sd[:, :1] ** 2)  # sd of each row's paired differences
    signal = np.zeros((SETTINGS, c))
    signal[:, 0] = 2 * row_sd[:, 0]
    edge = MIN_EFFECT * np.where(np.arange(SETTINGS * c).reshape(SETTINGS, c) % 2, -1.0, 1.0)
    false = miss = equiv = declined = 0
    found, ratios = [], []
    for k in range(sims):
        rows = rows_of(draw(scenario, sd, n, rng), signal)
        model = seedmodel.fit(rows, variances)
        out = judge(rows, k, draws, variances, model)
        declined += bool(model.fallback)
        verdict, truth = out["verdict"].to_numpy(), signal.ravel()
        false += bool(np.any(np.isin(verdict[truth == 0], ("gain", "loss")))
                      or np.any(verdict[truth > 0] == "loss"))  # fmt: skip
        miss += bool(np.any((out["ci_low"] > truth) | (out["ci_high"] < truth)))
        found.append(np.mean(verdict[truth > 0] == "gain"))
        ratios.append((out["ci_high"] - out["ci_low"]).to_numpy() / bonferroni_width(rows))
        out = judge(rows_of(draw(scenario, sd, n, rng), edge), k, draws, variances)
        equiv += bool(np.any(out["verdict"] == "equivalent"))
    width = float(np.nanmedian(np.concatenate(ratios)))
    return {"false": false / sims, "miss": miss / sims, "equiv": equiv / sims,
            "power": float(np.mean(found)), "width": width,
            "declined": declined / sims}  # fmt: skip


def time_to_target_rates(sims: int, draws: int, rng: np.random.Generator) -> dict:
    """Two identical losses, 6 settings × 5 seeds, 12 epochs: each trial's test error falls
    as 5 + 40·exp(−t/τ) + N(0, 0.5²), log τ = log 3 + b(setting, seed) + 0.3·ε (b ~ N(0,
    0.3²) shared by the pair). The report's path: `time_to_target` (target from both arms),
    `compare_losses` on the restricted mean epochs, the mid-p McNemar per comparison."""
    from analysis.targets import COMPARISON, paired_misses, time_to_target

    steps = np.arange(1, 13)
    false = rejected = 0
    for k in range(sims):
        b = rng.normal(0, 0.3, (SETTINGS, 5))
        tau = np.exp(np.log(3) + b[:, None, :] + 0.3 * rng.standard_normal((SETTINGS, 2, 5)))
        err = 5 + 40 * np.exp(-steps / tau[..., None]) + rng.normal(0, 0.5, (*tau.shape, 12))
        idx = pd.MultiIndex.from_product([range(SETTINGS), ("ce", "lace"), range(5)],
                                         names=["cell", "loss_label", "seed"])  # fmt: skip
        trials = idx.to_frame(index=False)
        trials["run_id"] = [f"r{i}" for i in range(len(trials))]
        trials["final_paper_top1_error"] = err[..., -3:].mean(axis=-1).ravel()
        epochs = pd.DataFrame({"run_id": np.repeat(trials["run_id"], 12),
                               "metric": "test_top1_error", "step": np.tile(steps, len(trials)),
                               "value": err.reshape(-1)})  # fmt: skip
        reached = time_to_target(epochs, trials, "final_paper_top1_error", setting_keys=["cell"])
        rows = compare_losses(reached, "epochs_to_target", setting_keys=["cell", COMPARISON],
                              min_effect=1.0, higher_better=False, seed=k, draws=draws,
                              describe=False)  # fmt: skip
        false += bool(rows["verdict"].isin(["gain", "loss"]).any())
        misses = paired_misses(reached, setting_keys=["cell"])
        rejected += int((misses["p_mcnemar_mid"] < ALPHA).sum())
    return {"false": false / sims, "mcnemar": rejected / (sims * SETTINGS)}


def model_checks(sims: int, rng: np.random.Generator) -> list[str]:
    """Per m = 42 scenario and n, over `sims` null studies: the share of rows that keep their
    own variance (the small-sample rule of `analysis.variances`), the median moderated df and
    the median critical value; then the max-t critical value's Monte-Carlo error."""
    from analysis import maxt

    lines, kept, total = [], 0, 0
    for scenario in SCENARIOS:
        for n in NS:
            sd, dfs, crits = loss_sd(scenario, 7), [], []
            for k in range(sims):
                rows = rows_of(draw(scenario, sd, n, rng), np.zeros((SETTINGS, 7)))
                out = judge(rows, k, 5_000)
                kept += int((out["df"] == n - 1).sum())
                total += len(rows)
                dfs.append(out["df"].median())
                crits.append(out["crit"].iloc[0])
            lines.append(f"m = 42, n = {n}, {scenario}: median df {np.median(dfs):.1f}, "
                         f"median critical value {np.median(crits):.2f}")  # fmt: skip
    lines.append(f"rows keeping their own variance: {kept} of {total}")
    corr = np.kron(np.eye(SETTINGS), np.full((7, 7), 0.5) + 0.5 * np.eye(7))
    for draws in (5_000, 20_000, 100_000):
        c = [maxt.simulate(corr, np.full(42, 12.0), s, draws).critical(ALPHA) for s in range(20)]
        lines.append(
            f"max-t critical value at {draws} draws (42 rows, ν = 12, 20 seeds): "
            f"{np.mean(c):.3f}, relative sd {100 * np.std(c, ddof=1) / np.mean(c):.2f} %"
        )
    return lines


def information_bound(
    scenario: str, n: int, sims: int, draws: int, rng: np.random.Generator, gaining: int = 0,
    c: int = 7,
) -> tuple[dict[str, tuple[float, float, float, float]], float, dict[str, int]]:  # fmt: skip
    """Power, its Monte-Carlo sd, P(false gain/loss) and the median width against per-row
    Bonferroni of the signal studies of c candidates × 6 settings at n seeds with the
    model's, the gamma GLM's and the true variances (module docstring, `--bound`); the
    candidate `gaining` carries the signal (0 is one of `het`'s noisy losses). Also the mean
    ratio of the gaining rows' moderated variance to the true one (1 for an unbiased one), and
    per way the studies it did not settle on (judged with the rows' model instead)."""
    import statsmodels.api as sm

    sd = loss_sd(scenario, c)
    row_sd = np.sqrt(sd[:, 1:] ** 2 + sd[:, :1] ** 2).ravel()
    signal = np.zeros((SETTINGS, c))
    signal[:, gaining] = 2 * row_sd.reshape(SETTINGS, c)[:, gaining]
    truth = signal.ravel()
    setting, cand = np.repeat(np.arange(SETTINGS), c), np.tile(np.arange(c), SETTINGS)
    x = np.column_stack([np.ones(len(truth))]
                        + [(setting == s).astype(float) for s in range(1, SETTINGS)]
                        + [(cand == j).astype(float) for j in range(1, c)])  # fmt: skip
    # the scenario's own levels: one variance in hom and t3; in het the setting's level and
    # whether the candidate is one of the noisy losses
    noisy = np.isclose(sd[:, 1:] / sd[:, :1], 3).ravel()
    levels = x[:, :1] if scenario != "het" else np.column_stack([x[:, :SETTINGS], noisy])
    found: dict[str, list[float]] = {
        name: [] for name in ("rows' model", "gamma GLM", "gamma GLM, levels known",
                              "losses' variances, fixed effects",
                              "losses' variances, random effects", "known")
    }  # fmt: skip
    false = dict.fromkeys(found, 0)
    widths: dict[str, list[np.ndarray]] = {name: [] for name in found}
    unsettled = dict.fromkeys(found, 0)  # studies judged with the rows' model instead
    off: list[float] = []  # moderated / true variance of the gaining rows
    for k in range(sims):
        rows = rows_of(draw(scenario, sd, n, rng), signal)
        model = seedmodel.fit(rows)
        off.append(float(np.mean((model.se**2 * n / row_sd**2)[truth > 0])))
        s2 = np.array([r.diffs.var(ddof=1) for r in rows])
        ways = {"rows' model": (model.se, model.df, model.wcorr)}
        for name, design in (("gamma GLM", x), ("gamma GLM, levels known", levels)):
            glm = sm.GLM(s2, design, family=sm.families.Gamma(sm.families.links.Log()),
                         var_weights=np.full(len(s2), (n - 1) / 2)).fit(scale=1.0)  # fmt: skip
            v_eta = np.einsum("ij,jk,ik->i", design, glm.cov_params(), design)
            ways[name] = (np.sqrt(glm.fittedvalues / n), 2 / v_eta, None)
        names = [str(j) for j in range(c)]
        settings = [Setting.of([r.diffs for r in rows[k * c : (k + 1) * c]], names)
                    for k in range(SETTINGS)]  # fmt: skip
        try:
            v, df = loss_variances.fixed_effects(settings)
            fixed = (np.sqrt(v / n), df, None)
        except np.linalg.LinAlgError:  # a level runs off to 0 (two rows, few seeds)
            fixed = (np.full(len(s2), math.nan),) * 2 + (None,)
        if not np.all(np.isfinite(fixed[0]) & np.isfinite(fixed[1])):
            unsettled["losses' variances, fixed effects"] += 1
            fixed = ways["rows' model"]
        ways["losses' variances, fixed effects"] = fixed
        anyway = _losses_anyway(settings, n)
        if anyway is None:
            unsettled["losses' variances, random effects"] += 1
        ways["losses' variances, random effects"] = anyway or ways["rows' model"]
        ways["known"] = (row_sd / math.sqrt(n), np.full(len(s2), 1e6), None)
        for name, (se, df, wcorr) in ways.items():
            frame = pd.DataFrame({"gain": model.gain, "se": se, "df": df, "n_pairs": n})
            corr = seedmodel.correlation(rows, se**2 * n)
            out = family.finish(family.max_t(frame, corr, ALPHA, k, draws, wcorr), ALPHA,
                                MIN_EFFECT, planning=False)  # fmt: skip
            verdict = out["verdict"].to_numpy()
            found[name].append(float(np.mean(verdict[truth > 0] == "gain")))
            false[name] += bool(np.any(np.isin(verdict[truth == 0], ("gain", "loss"))))
            width = (out["ci_high"] - out["ci_low"]).to_numpy() / bonferroni_width(rows)
            widths[name].append(width)
    result = {name: (float(np.mean(share)), float(np.std(share, ddof=1) / math.sqrt(sims)),
                     false[name] / sims, float(np.nanmedian(np.concatenate(widths[name]))))
              for name, share in found.items()}  # fmt: skip
    return result, float(np.mean(off)), unsettled


def _losses_anyway(
    settings: list[Setting], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Standard errors, degrees of freedom and error correlation of `analysis.loss_variances`'
    model, also where a setting has fewer rows than `seedmodel.fit` asks of it (two rows only
    just identify the split: a bound, not the method); None where it does not settle."""
    from analysis.loss_variances import NotSettled, moderate_losses

    try:
        mod = moderate_losses(settings)
    except (NotSettled, np.linalg.LinAlgError):
        return None
    if not (np.all(np.isfinite(mod.s2)) and np.all(np.isfinite(mod.df))):
        return None
    return np.sqrt(mod.s2 / n), mod.df, mod.errors_corr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sims", nargs="?", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=5_000)
    parser.add_argument("--only", choices=SCENARIOS, nargs="+", default=list(SCENARIOS))
    parser.add_argument("--n", type=int, nargs="+", default=list(NS))
    parser.add_argument("--shapes", type=int, nargs="+", default=list(SHAPES))
    parser.add_argument("--variances", choices=seedmodel.VARIANCES, default="losses",
                        help="seedmodel.fit's variance model (losses: the report's default, "
                        "maxt-losses; rows: maxt)")  # fmt: skip
    parser.add_argument("--time-to-target", type=int, default=0, metavar="SIMS",
                        help="only the time-to-target row, with SIMS studies")  # fmt: skip
    parser.add_argument(
        "--model-checks",
        type=int,
        default=0,
        metavar="SIMS",
        help="only the model's df, critical values and Monte-Carlo error",
    )
    parser.add_argument(
        "--bound",
        type=int,
        default=0,
        metavar="SIMS",
        help="only the power the variances' information allows (m = 42, n = 5 unless "
        "--bound-shape / --bound-n say otherwise)",
    )
    parser.add_argument("--bound-shape", type=int, default=7, metavar="C",
                        help="--bound's candidates per setting (m = 6·C)")  # fmt: skip
    parser.add_argument("--bound-n", type=int, default=5, metavar="N", help="--bound's seeds")
    parser.add_argument("--off-levels", type=int, default=0, metavar="SIMS",
                        help="only the rows' check of their levels: `hom` with one loss's sd "
                        "3x and 10x in one setting, SIMS studies per row")  # fmt: skip
    args = parser.parse_args()
    if args.off_levels:
        off_levels(args)
        return
    if args.bound:
        c, n = args.bound_shape, args.bound_n
        print(f"# benchmarks/stats_calibration.py {' '.join(sys.argv[1:])}: m = {c * SETTINGS}, "
              f"n = {n}, {args.bound} signal studies per scenario, {args.draws} max-t draws; "
              f"{datetime.now(UTC):%Y-%m-%d}\n")  # fmt: skip
        print("| errors | gaining loss | variances | power at 2 sd | P(false gain/loss) "
              "| width vs Bonferroni |\n|---|---|---|---|---|---|")  # fmt: skip
        notes = []
        for scenario in args.only:
            # in het the gain sits on a noisy loss (candidate 0) or on a stable one (the last)
            places = {"noisy": 0, "stable": c - 1} if scenario == "het" else {"any": 0}
            for place, gaining in places.items():
                rng = np.random.default_rng(20261206)
                found = information_bound(scenario, n, args.bound, args.draws, rng, gaining, c)
                rows, off, unsettled = found
                for name, (power, power_sd, false, width) in rows.items():
                    print(f"| {scenario} | {place} | {name} | {power:.3f} ± {power_sd:.3f} "
                          f"| {pm(false, args.bound)} | {width:.3f} |", flush=True)  # fmt: skip
                notes.append(f"{scenario}, gaining loss {place}: the model's variance of the "
                             f"gaining rows is {off:.3f} times the true one "
                             f"(mean over rows and studies)")  # fmt: skip
                notes += [f"{scenario}, gaining loss {place}: {name} did not settle in {k} of "
                          f"{args.bound} studies (judged with the rows' model there)"
                          for name, k in unsettled.items() if k]  # fmt: skip
        print("\n" + "\n".join(notes))
        return
    if args.model_checks:
        print(
            f"# benchmarks/stats_calibration.py {' '.join(sys.argv[1:])}; "
            f"{datetime.now(UTC):%Y-%m-%d}"
        )
        print("\n".join(model_checks(args.model_checks, np.random.default_rng(20261205))))
        return
    if args.time_to_target:
        r = time_to_target_rates(args.time_to_target, args.draws, np.random.default_rng(1))
        print(f"# benchmarks/stats_calibration.py {' '.join(sys.argv[1:])}: two identical "
              f"losses, 6 settings x 5 seeds, {args.time_to_target} studies; "
              f"{datetime.now(UTC):%Y-%m-%d}\n\nP(any gain/loss in epochs to target) "
              f"{pm(r['false'], args.time_to_target)}; P(mid-p McNemar < {ALPHA}), per "
              f"comparison, {pm(r['mcnemar'], args.time_to_target * SETTINGS)}")  # fmt: skip
        return
    rng = np.random.default_rng(20261203)
    start = time.monotonic()
    check_against_compare_losses(rng, args.draws, args.variances)
    print(
        f"# benchmarks/stats_calibration.py {' '.join(sys.argv[1:])}: {args.sims} simulated "
        f"studies per row and kind; α {ALPHA}, min_effect {MIN_EFFECT}, {args.draws} max-t "
        f"draws, variances by {args.variances}; {platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, "
        f"{datetime.now(UTC):%Y-%m-%d}\n"
    )
    print("| rows m | n | errors | P(false gain/loss) | P(any CI misses) "
          "| P(equivalent \\| ±min_effect) | width vs Bonferroni | power at 2 sd |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for c in args.shapes:
        for n in args.n:
            for scenario in args.only:
                r = rates(scenario, c, n, args.sims, args.draws, rng, args.variances)
                print(f"| {c * SETTINGS} | {n} | {scenario} | {pm(r['false'], args.sims)} "
                      f"| {pm(r['miss'], args.sims)} | {pm(r['equiv'], args.sims)} "
                      f"| {r['width']:.3f} | {r['power']:.3f} |", flush=True)  # fmt: skip
    print(
        f"\nRates ± their Monte-Carlo sd; width: median over rows of the ratio; power: share "
        f"of the 6 signal rows labelled gain. Wall time {time.monotonic() - start:.0f} s"
    )


def off_levels(args: argparse.Namespace) -> None:
    """`hom` with the last candidate's sd multiplied by 3 or 10 in the first setting only: a
    variance off any level per setting and per loss, on a row whose true gain is 0. Per
    shape, n and factor: the rates of `rates` and the share of signal studies in which the
    default's variance model declined its levels (judged with the rows' variances)."""
    sims = args.off_levels
    print(f"# benchmarks/stats_calibration.py {' '.join(sys.argv[1:])}: {sims} studies per row "
          f"and kind, `hom` with one row's loss off its levels; variances by {args.variances}; "
          f"{datetime.now(UTC):%Y-%m-%d}\n")  # fmt: skip
    print("| rows m | n | sd × | P(false gain/loss) | P(any CI misses) | P(equivalent \\| "
          "±min_effect) | width vs Bonferroni | power at 2 sd | levels declined |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(20261208)
    for c in args.shapes:
        for n in args.n:
            for off in (3.0, 10.0):
                r = rates("hom", c, n, sims, args.draws, rng, args.variances, off)
                print(f"| {c * SETTINGS} | {n} | {off:g} | {pm(r['false'], sims)} "
                      f"| {pm(r['miss'], sims)} | {pm(r['equiv'], sims)} | {r['width']:.3f} "
                      f"| {r['power']:.3f} | {r['declined']:.3f} |", flush=True)  # fmt: skip


def pm(p: float, sims: int) -> str:
    return f"{p:.4f} ± {math.sqrt(p * (1 - p) / sims):.4f}"


if __name__ == "__main__":
    main()
