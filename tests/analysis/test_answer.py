"""The answer in words (analysis/answer.py) and its HTML (analysis/render.py), by hand."""

from __future__ import annotations

import math

import pandas as pd

from analysis.answer import (
    answer_lines,
    metric_label,
    number,
    sequential_lines,
    setting_name,
)
from analysis.render import Section, html_page

KEYS = ["noise.kind", "noise.rate"]


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate": "lace",
            "noise.kind": ["none", "pairflip", "symmetric", "symmetric"],
            "noise.rate": [0.0, 0.2, 0.2, 0.4],
            "gain": [0.1, -1.593, 0.02, 0.5],
            "ci_low": [-0.3, -2.9, -0.2, -1.0],
            "ci_high": [0.5, -0.3, 0.25, 2.0],
            "verdict": ["inconclusive", "loss", "equivalent", "inconclusive"],
        }
    ).assign(tost_low=lambda f: f["ci_low"] + 0.05, tost_high=lambda f: f["ci_high"] - 0.05)


def test_the_answer_sentence() -> None:
    (line,) = answer_lines(_rows(), KEYS, "final_paper_top1_error", "ce", 1.0)
    assert line == (
        "lace vs ce, test top-1 error: gain in 0 of 4 settings; loss in 1 (pairflip 0.2: "
        "−1.59 points [−2.9, −0.3]); equivalent within ±1 point in 1 (symmetric 0.2: 0.02 "
        "points [−0.15, 0.2]); inconclusive in 2"
    )


def test_families_are_named_in_every_sentence() -> None:
    rows = pd.concat([_rows().assign(family="confirmatory"),
                      _rows().assign(candidate="gce", family="exploratory")])  # fmt: skip
    lines = answer_lines(rows, KEYS, "final_paper_top1_error", "ce", 1.0)
    assert [line.split(",")[0] for line in lines] == [
        "lace vs ce (confirmatory)",
        "gce vs ce (exploratory)",
    ]


def test_one_setting_is_one_verdict() -> None:
    one = _rows().iloc[[2]]
    (line,) = answer_lines(one, KEYS, "final_paper_top1_error", "ce", 1.0)
    assert line == (
        "lace vs ce, test top-1 error: equivalent (0.02 points [−0.15, 0.2], within ±1 point)"
    )


def test_names() -> None:
    assert metric_label("final_paper_top5_error") == "test top-5 error"
    assert number(-0.0004) == "0" and number(math.nan) == "n/a" and number(18.807) == "18.8"
    assert setting_name({"noise.kind": "none", "noise.rate": 0.0}, KEYS) == "no noise"
    assert setting_name({"noise.kind": "symmetric", "noise.rate": 0.6, "optim.lr": 0.1},
                        [*KEYS, "optim.lr"]) == "lr=0.1, symmetric 0.6"  # fmt: skip
    assert setting_name({"noise.kind": "none", "noise.rate": 0.0, "model.name": "vgg5"},
                        ["model.name", *KEYS]) == "vgg5, no noise"  # fmt: skip


def test_sequential_sentence() -> None:
    decisions = pd.DataFrame(
        {
            "comparison": ["loss=lace,noise=none", "loss=lace,noise=symmetric(rate=0.4)",
                           "loss=lace,noise=pairflip(rate=0.2)"],
            "candidate": ["lace"] * 3,
            "setting": ["noise=none", "noise=symmetric(rate=0.4)", "noise=pairflip(rate=0.2)"],
            "decision": ["futile", "gain", "inconclusive"], "look": [3, 6, 20],
            "mean": [0.01, 2.5, 0.3], "ci_low": [-0.2, 0.4, -0.5], "ci_high": [0.2, 4.6, 1.1],
        }
    )  # fmt: skip
    (line,) = sequential_lines(decisions, "final_paper_top1_error", "ce", 1.0)
    assert line == (
        "lace vs ce, test top-1 error (sequential): gain in 1 of 3 settings "
        "(noise=symmetric(rate=0.4), look 6: 2.5 points [0.4, 4.6]); loss in 0; futile in 1 "
        "(per comparison: each rules out a gain of 1 points at error rate β, not "
        "family-wise); inconclusive in 1"
    )


def test_html_has_no_raw_backticks() -> None:
    section = Section("The answer", "read `ci_low`", bullets=["a `b` c"])
    page = html_page(["Metric `final_paper_top1_error`."], [section], "x")
    assert "`" not in page and "<code>ci_low</code>" in page
    assert "<li>a <code>b</code> c</li>" in page
