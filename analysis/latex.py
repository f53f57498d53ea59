"""`comparisons.tex`: the report's comparisons as a paper-ready booktabs table (`\\toprule`,
`\\midrule`, `\\bottomrule`; `\\usepackage{booktabs}`), typeset by pandas' `Styler.to_latex`.

One row per candidate × setting: the gain (candidate better > 0, in the metric's units) with
its simultaneous interval, the verdict read from it, and n (seed pairs); the family column
when the report has two. The claims the study tests follow as the table's notes, and the
caption names the method, α and the family, so that the table says how to read it without
the report beside it. Every text cell is escaped for LaTeX.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.answer import metric_label, number, setting_name
from analysis.family import METHOD_NAMES
from analysis.report_config import Settings
from analysis.sections import Findings

SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "|": r"\textbar{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "−": "$-$", "±": r"$\pm$", "×": r"$\times$",
            "α": r"$\alpha$", "β": r"$\beta$", "≥": r"$\geq$", "≤": r"$\leq$"}  # fmt: skip


def escape(text: object) -> str:
    """`text` with LaTeX's special characters escaped, and the symbols the report writes
    (−, ±, ×, α, β, ≥, ≤) in math mode, which every TeX engine typesets."""
    return "".join(SPECIALS.get(ch, ch) for ch in str(text))


def _number(value: float) -> str:
    return escape(number(value))


def comparisons_tex(found: Findings, cfg: Settings, keys: Sequence[str]) -> str:
    """The table, its claim lines and its caption, as one `table` environment."""
    comp = found.comparisons
    level = f"{100 * (1 - cfg.alpha):g}"
    frame = pd.DataFrame({
        "Candidate": comp["candidate"].map(escape),
        "Setting": [escape(setting_name(r, keys)) for _, r in comp.iterrows()],
        "Gain": comp["gain"].map(_number),
        f"{level}\\,\\% simultaneous CI": [f"[{_number(lo)}, {_number(hi)}]"
                                           for lo, hi in zip(comp["ci_low"], comp["ci_high"],
                                                             strict=True)],
        "Verdict": comp["verdict"].fillna("").map(escape),
        "$n$": comp["n_pairs"].astype(int),
    })  # fmt: skip
    if "family" in comp and set(comp["family"]) - {"all"}:
        frame.insert(2, "Family", comp["family"].map(escape))
    families = "; ".join(f"{escape(f)}: {int(n)} row{'s' * (int(n) != 1)}" for f, n in
                         comp.groupby("family")["family_size"].max().items())  # fmt: skip
    method = comp["method"].iloc[0] if "method" in comp and len(comp) else (
        METHOD_NAMES[cfg.family_method])  # fmt: skip
    caption = (
        f"{escape(metric_label(cfg.metric))}: gain of each candidate over "
        f"{escape(cfg.reference)} (positive: the candidate is better), with its {level}\\,\\% "
        f"simultaneous interval ({escape(method)}; "
        f"$\\alpha = {cfg.alpha:g}$ per family; {families}). Verdicts are read from that "
        f"interval; equivalence within $\\pm{cfg.min_effect:g}$; $n$: seed pairs."
    )
    table = frame.style.hide(axis="index").to_latex(
        hrules=True, column_format="l" * len(frame.columns), caption=caption,
        label="tab:comparisons", position="t", position_float="centering",
    )  # fmt: skip
    claims = [escape(line) for line in found.headline]
    if not claims:
        return str(table)
    notes = "\\par\\smallskip\n{\\footnotesize " + " \\\\\n".join(claims) + "}\n"
    return str(table).replace("\\end{table}", notes + "\\end{table}")
