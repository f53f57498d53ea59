"""`analysis.latex`: the comparisons as a booktabs table, checked as LaTeX: environments and
braces balanced, one cell per column in every row, the three rules, nothing unescaped."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis.latex import comparisons_tex, escape
from analysis.report_config import ReportConfig
from analysis.sections import Findings


def check_latex_table(tex: str) -> None:
    """Fails unless `tex` is one `table` with one booktabs `tabular` whose rows all have its
    column count, with balanced braces and no unescaped special character."""
    body = re.sub(r"\\[\\{}&%$#_]", "", tex)  # escaped characters and row ends
    assert body.count("{") == body.count("}"), "unbalanced braces"
    assert body.count("$") % 2 == 0, "unbalanced math"
    assert not re.search(r"[&%#_]", re.sub(r"(?m)&", "", body)), "an unescaped % # or _"
    for env in ("table", "tabular"):
        assert tex.count(f"\\begin{{{env}}}") == tex.count(f"\\end{{{env}}}") == 1, env
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert tex.count(rule) == 1, rule
    spec = re.search(r"\\begin\{tabular\}\{([^}]*)\}", tex)
    assert spec is not None
    columns = len(re.findall(r"[lcr]", spec.group(1)))
    inner = tex.split("\\toprule", 1)[1].split("\\bottomrule", 1)[0]
    rows = [r for r in inner.replace("\\midrule", "").split("\\\\") if r.strip()]
    assert rows, "no rows"
    for row in rows:
        assert len(re.findall(r"(?<!\\)&", row)) == columns - 1, row


def compiles(tex: str, folder: Path) -> bool:
    """Whether pdflatex typesets `tex` in a document with booktabs (where a TeX engine is
    installed: `apt-get install texlive-latex-recommended`)."""
    (folder / "table.tex").write_text(tex)
    (folder / "doc.tex").write_text(
        "\\documentclass{article}\\usepackage{booktabs}\n"
        "\\begin{document}\\input{table.tex}\\end{document}\n"
    )
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=folder, capture_output=True, text=True, timeout=120)  # fmt: skip
    return proc.returncode == 0


def _findings() -> Findings:
    comp = pd.DataFrame({
        "candidate": ["focal(gamma=2.0)", "lace", "my_loss"], "noise.kind": ["none"] * 3,
        "noise.rate": [0.0] * 3, "n_pairs": [5, 5, 4], "gain": [-1.13, 0.42, 2.0],
        "ci_low": [-2.04, -0.3, 0.5], "ci_high": [-0.22, 1.1, 3.5],
        "verdict": ["loss", "inconclusive", "gain"],
        "family": ["exploratory", "confirmatory", "exploratory"], "family_size": [2, 1, 2],
    })  # fmt: skip
    headline = ["lace vs ce: claimed 0.5 % (Shim 2025), not supported: 0.42 [−0.3, 1.1]",
                "α = 0.05, ± 1 point, ≥ 2 × β"]  # fmt: skip
    return Findings(comp, pd.DataFrame(), pd.DataFrame(), None, [], pd.DataFrame(), headline)


def test_the_comparisons_are_a_valid_booktabs_table(tmp_path: Path) -> None:
    cfg = ReportConfig(primary=("lace",)).resolved({"analysis": {"min_effect": 1.0}})
    tex = comparisons_tex(_findings(), cfg, ["noise.kind", "noise.rate"])
    check_latex_table(tex)
    if shutil.which("pdflatex"):  # typeset too where TeX is installed
        assert compiles(tex, tmp_path)
    assert "my\\_loss" in tex and "0.5 \\%" in tex  # escaped
    assert "max-" in tex and "$\\alpha = 0.05$" in tex and "confirmatory: 1 row;" in tex
    assert "\\caption{" in tex and "\\label{tab:comparisons}" in tex


@pytest.mark.parametrize("broken", [
    "\\begin{table}\\begin{tabular}{ll}\\toprule a & b \\\\ \\midrule c \\\\ \\bottomrule"
    "\\end{tabular}\\end{table}",  # a row short of a cell
    "\\begin{table}\\begin{tabular}{ll}\\toprule a & b_c \\\\ \\midrule c & d \\\\ "
    "\\bottomrule\\end{tabular}\\end{table}",  # an unescaped _
    "\\begin{table}\\begin{tabular}{ll}\\toprule a & {b \\\\ \\midrule c & d \\\\ "
    "\\bottomrule\\end{tabular}\\end{table}",  # an open brace
])  # fmt: skip
def test_the_check_finds_a_broken_table(broken: str) -> None:
    with pytest.raises(AssertionError):
        check_latex_table(broken)


def test_escape() -> None:
    assert escape("a_b & 5% #1 {x} ~") == "a\\_b \\& 5\\% \\#1 \\{x\\} \\textasciitilde{}"
