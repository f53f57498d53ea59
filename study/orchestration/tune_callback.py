"""`TuneCallback`: Ray Tune's `Callback`, the base of the driver's callbacks (tracking,
progress, compaction), named in this one place. Importing it imports Ray."""

from __future__ import annotations

from ray.tune import Callback as TuneCallback

__all__ = ["TuneCallback"]
