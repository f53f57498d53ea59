"""The replication table (analysis/effects.py)."""

from __future__ import annotations

import pytest

from analysis.effects import replication
from tests.stats_data import trials as _trials


def test_replication_table() -> None:
    trials = _trials([6.7, 6.8, 6.6, 6.7, 6.7], [6.2, 6.3, 6.1, 6.25, 6.2]).rename(
        columns={"top5_error": "final_paper_top5_error"}
    )
    table = replication(trials).set_index("loss")
    assert table.loc["ce", "n"] == 5 and table.loc["ce", "mean"] == pytest.approx(6.7)
    assert bool(table.loc["ce", "published_in_ci"]) and bool(table.loc["lace", "published_in_ci"])
