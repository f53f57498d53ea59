"""A tidy trials frame for the statistics tests: one row per (loss, seed), paired by seed."""

from __future__ import annotations

import pandas as pd


def trials(
    ref: list[float], cand: list[float], cell: dict | None = None, name: str = "lace"
) -> pd.DataFrame:
    rows = [
        {"loss_label": "ce", "seed": s, "top5_error": v, **(cell or {})} for s, v in enumerate(ref)
    ]
    rows += [
        {"loss_label": name, "seed": s, "top5_error": v, **(cell or {})} for s, v in enumerate(cand)
    ]
    return pd.DataFrame(rows)
