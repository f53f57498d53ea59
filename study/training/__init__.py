"""The training layer: one trial from a frozen `TrialConfig` to its metrics, with torch alone.

Configs (`config`, `optim`), data sources (`data/`), augmentations (`augment`, `warp`), models
(`models/`), losses (`losses/`), label noise (`noise`), the one training loop (`trial`), its
device settings (`runtime`), metrics and attacks, and the trial's own checkpoints. Imports
neither `study.orchestration` nor `study.tools` (tests/test_layout.py holds the direction).
"""
