"""Which hardware a comparison's pairs ran on. Each trial run carries its node's hardware label
(tag `hardware`, `study.training.provenance`); on a cluster the two trials of one pair (same
seed, candidate and reference) can land on different chips, whose kernels differ. Pure
pandas.

* `kinds`: the hardware of the finished trials, with how many ran on each (the report's
  header);
* `mixed_pairs`: per comparison row, the pairs whose two trials ran on different hardware
  (said beside the verdict);
* `hardware_pairs`: the pairing key that keeps only same-hardware pairs (a study's
  `analysis.pair_on: hardware`): a seed whose two trials ran apart pairs with nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from study.contract import HARDWARE_TAG

UNKNOWN = "unknown"  # a run without the tag
PAIR_COLUMN = "seed_on_hardware"


def _labels(trials: pd.DataFrame) -> pd.Series:
    if HARDWARE_TAG not in trials:
        return pd.Series(UNKNOWN, index=trials.index)
    return trials[HARDWARE_TAG].fillna("").replace("", UNKNOWN)


def recorded(trials: pd.DataFrame) -> bool:
    """Whether the trials say what they ran on (runs written before provenance do not)."""
    return HARDWARE_TAG in trials and bool(trials[HARDWARE_TAG].astype(bool).any())


def kinds(trials: pd.DataFrame) -> dict[str, int]:
    """Hardware label → trials that ran on it, most first."""
    return dict(_labels(trials).value_counts())


def mixed_pairs(
    trials: pd.DataFrame, comparisons: pd.DataFrame, reference: str, keys: Sequence[str],
    candidate_key: str = "loss_label",
) -> list[int]:  # fmt: skip
    """For each row of `comparisons` (candidate × setting), its pairs whose candidate and
    reference trials ran on different hardware."""
    data = trials.assign(_hw=_labels(trials))
    ref = data[data[candidate_key] == reference]
    out = []
    for _, row in comparisons.iterrows():
        cand, ref_rows = data[data[candidate_key] == row["candidate"]], ref
        for key in keys:
            cand, ref_rows = cand[cand[key] == row[key]], ref_rows[ref_rows[key] == row[key]]
        pairs = cand.merge(ref_rows, on="seed", suffixes=("", "_ref"))
        out.append(int((pairs["_hw"] != pairs["_hw_ref"]).sum()))
    return out


def hardware_pairs(trials: pd.DataFrame) -> pd.DataFrame:
    """`trials` with `PAIR_COLUMN`: the seed and the hardware, the key that pairs a candidate's
    trial only with a reference trial of the same seed on the same hardware."""
    return trials.assign(**{PAIR_COLUMN: trials["seed"].astype(str) + " @ " + _labels(trials)})
