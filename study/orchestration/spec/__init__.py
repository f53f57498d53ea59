"""The study spec, one package: types (`model`), validation (`sections`, `search`), loading
(`load`: YAML, `extends`, `--set`, paths) and translation to Ray Tune / Optuna (`translate`).
Imports go one way: load → search → sections → model, translate → model."""

from study.orchestration.spec.load import load_spec, read_yaml, spec_from_dict
from study.orchestration.spec.model import StudySpec

__all__ = ["StudySpec", "load_spec", "read_yaml", "spec_from_dict"]
