"""The tools layer: what a user calls. The `study` command (`cli`, `cli_tools`), launching and
planning a study, one local trial, the MLflow servers it starts, status and benchmarks.
Imports both other layers lazily, so `study trial` needs torch alone.
"""
