"""The orchestration layer: a study spec run as Ray Tune trials and tracked in MLflow.

The spec (`spec/`), the stage kinds (`stages/`), the stored study (`record`, `decisions`,
`storage`), the runner and its trainable, the MLflow callback and run settling (`callback`,
`settle`, `tracking`), the console (`progress`) and signal handling (`signals`). Imports the
training layer, never `study.tools` (tests/test_layout.py holds the direction).
"""
