"""The shape of the code (benchmarks/module_graph.py prints the figures), each rule checked on
the project and on a planted violation: no import cycle, no module over 300 lines and no
function over 60; layers that import one way (training → orchestration → tools, over the
store and the base modules; analysis over the contract and the store); every byte to and from
MLflow through `study.store`; a contract of names and pure functions, its strings written
nowhere else; one module per stage kind, named as the stage runs; and a new stage kind needs
no change to the runner or the planner."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from study.orchestration.spec import spec_from_dict
from study.orchestration.stages import (
    STAGES,
    Cost,
    StageContext,
    TuneExperiment,
    expected_trials,
    study_stages,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import module_graph


def test_no_import_cycle_and_no_module_over_300_lines() -> None:
    g = module_graph.graph()
    assert module_graph.cycles(g) == []
    assert {n: g.nodes[n]["lines"] for n in g if g.nodes[n]["lines"] > 300} == {}
    # the graph tool sees lazy imports too: a cycle made of them would be reported
    assert ("study.training.config", "study.training.data.registry") in g.edges


# What each layer may import of the project. The base modules (study.errors, registry, coerce,
# contract) sit under every layer and import nothing of the layers; the store (study.store)
# sits on the contract and the errors alone, and is the one way to MLflow for every layer
# above it.
LAYERS = {
    "study.training": ("study.training", "study.errors", "study.registry", "study.coerce",
                       "study.contract"),
    "study.store": ("study.store", "study.contract", "study.errors"),
    "study.orchestration": ("study.training", "study.orchestration", "study.store",
                            "study.errors", "study.registry", "study.coerce", "study.contract",
                            "analysis"),
    "study.tools": ("study", "analysis"),
    "study.api": ("study", "analysis"),  # the Python API, beside the command line
    "analysis": ("analysis", "study.contract", "study.store"),
}  # fmt: skip
BASE = ("study.errors", "study.registry", "study.coerce", "study.contract")


def _allowed(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def layer_violations(edges: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Imports (module, module) that cross a layer the wrong way."""
    wrong = []
    for src, dst in edges:
        layer = next((lay for lay in LAYERS if _allowed(src, (lay,))), None)
        if layer is not None and not _allowed(dst, LAYERS[layer]):
            wrong.append((src, dst))
        if src in BASE and dst not in BASE[:2]:  # coerce and registry use errors, no more
            wrong.append((src, dst))
    return wrong


def test_layers_import_one_way() -> None:
    """Training imports neither orchestration nor tools; orchestration does not import tools;
    the store imports only the contract and the errors; analysis reads through study.contract and
    study.store and nothing else of study."""
    g = module_graph.graph()
    assert layer_violations(g.edges) == []
    assert ("study.orchestration.trainable", "study.training.trial") in g.edges  # it sees them
    top = {n for n in g if n.startswith("study.") and n.count(".") == 1}
    assert top == {*BASE, "study.training", "study.orchestration", "study.store", "study.tools",
                   "study.api", "study.__main__"}  # fmt: skip
    planted = [("analysis.load", "study.orchestration.record"), ("study.store.x", "study.training"),
               ("study.contract", "study.store")]  # fmt: skip
    assert layer_violations(planted) == planted


def test_importing_analysis_loads_only_the_contract_and_the_store() -> None:
    import subprocess

    code = (
        "import analysis.report, sys; "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('study.')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "['contract', 'store']", out.stderr


# MLflow's client and server, the database and HTTP libraries: the store's alone
STORE_LIBRARIES = ("mlflow", "sqlalchemy", "requests", "urllib")
SERVED = {"study.tools.server_app": ("mlflow.server", "flask"),  # the server itself
          "study.tools.server_auth": ("mlflow.server", "flask"),  # behind MLflow's auth
          # checks what a faulted study left in the database, apart from the store it tests
          "study.tools.bench_faults": ("sqlalchemy", "mlflow.tracking")}  # fmt: skip


def _imported(source: str) -> Iterator[str]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def store_io_outside_store(sources: Mapping[str, str]) -> list[tuple[str, str]]:
    """(module, library) for each import of MLflow, SQLAlchemy or HTTP outside study.store."""
    found = []
    for name, source in sources.items():
        if _allowed(name, ("study.store",)):
            continue
        for lib in _imported(source):
            if _allowed(lib, STORE_LIBRARIES) and not _allowed(lib, SERVED.get(name, ())):
                found.append((name, lib))
    return found


def contract_impurities(source: str) -> list[str]:
    """What makes the contract more than names and pure functions: an import of anything but
    the pure standard library, or a call of `open`."""
    pure = ("__future__", "collections", "typing", "json", "math", "dataclasses")
    found = [lib for lib in _imported(source) if not _allowed(lib, pure)]
    found += ["open()" for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Name) and node.func.id == "open"]  # fmt: skip
    return found


def _sources() -> dict[str, str]:
    return {name: path.read_text() for name, path in module_graph.modules().items()}


def test_every_byte_to_and_from_mlflow_passes_through_the_store() -> None:
    sources = _sources()
    assert store_io_outside_store(sources) == []
    assert {n for n in sources if n.startswith("study.store")} >= {
        "study.store.client", "study.store.database", "study.store.server"}  # fmt: skip
    planted = {"study.orchestration.x": "import sqlalchemy as sa",
               "analysis.y": "from mlflow.tracking import MlflowClient",
               "study.tools.server_app": "import requests",
               "study.store.z": "import mlflow"}  # fmt: skip
    assert store_io_outside_store(planted) == [
        ("study.orchestration.x", "sqlalchemy"), ("analysis.y", "mlflow.tracking"),
        ("study.tools.server_app", "requests")]  # fmt: skip


def test_the_contract_is_names_and_pure_functions() -> None:
    assert contract_impurities(_sources()["study.contract"]) == []
    planted = "import json\nfrom pathlib import Path\ndef f():\n    return open('x').read()\n"
    assert contract_impurities(planted) == ["pathlib", "open()"]


def test_no_function_over_60_lines() -> None:
    long = {
        f"{path.relative_to(module_graph.ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in module_graph.modules().values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > 60  # type: ignore[operator]
    }
    assert long == {}


# The words of the contract that name something else where they appear: (module, string) →
# how many times. A new literal of a contract string anywhere else fails the test; so does one
# more here.
OTHER_MEANINGS = Counter({
    # the DataFrame columns of `analysis.load` and the report's tables
    ("analysis.load", "stage"): 1, ("analysis.load", "look"): 1,
    ("analysis.report", "stage"): 1, ("analysis.answer", "look"): 1,
    ("analysis.sections", "look"): 1,
    ("analysis.sequential", "looks"): 2,  # a field of SequentialDesign
    # fields of the stored study record and of a trial checkpoint (files, not MLflow tags)
    ("study.orchestration.record", "spec_hash"): 3,
    ("study.orchestration.record", "git_sha"): 3,
    ("study.orchestration.record", "expected"): 3,
    ("study.training.trial", "config_hash"): 3,
    ("study.orchestration.stages.looks", "look"): 1,  # a stored decision's field
    # YAML keys of the study spec
    ("study.orchestration.spec.load", "evaluate"): 2,
    ("study.orchestration.spec.model", "evaluate"): 1,
    ("study.orchestration.spec.translate", "sampler"): 1,  # the registry's family name
    ("study.training.config", "trial"): 1,  # `noise.seed: trial`
    # the command line, and table headers
    ("study.tools.cli", "study"): 1, ("study.tools.cli", "trial"): 1,
    ("study.tools.cli", "report"): 1, ("study.tools.launch", "study"): 3,
    ("study.tools.bench_scheduling", "study"): 1,  # `python -m study`
    ("study.tools.bench_faults", "study"): 1,
    ("study.tools.bench_scheduling", "report"): 2, ("study.tools.bench_tracking", "report"): 2,
    ("study.tools.planning", "stage"): 3, ("study.tools.status", "stage"): 4,
    ("study.tools.status", "expected"): 4,  # the columns of `study status`
    ("study.tools.status", "hardware"): 3,
    # the value `hardware` of the spec's `analysis.pair_on`
    ("study.orchestration.spec.model", "hardware"): 1, ("analysis.page", "hardware"): 1,
    ("analysis.report", "hardware"): 1,
    ("study.orchestration.stages.base", "stage"): 1,  # the registry's family name
})  # fmt: skip


def _literals(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants that are not docstrings or `__all__` entries."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.update(id(n) for n in ast.walk(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node


def stray_literals(sources: Mapping[str, str], words: set[str]) -> Counter[tuple[str, str]]:
    """(module, string) → how many times a contract word is written as a literal outside the
    contract."""
    found: Counter[tuple[str, str]] = Counter()
    for name, source in sources.items():
        if name == "study.contract":
            continue
        for node in _literals(ast.parse(source)):
            if node.value in words:
                found[(name, node.value)] += 1
    return found


def _contract_words() -> set[str]:
    import study.contract as contract

    return {v for k, v in vars(contract).items() if k.isupper() and isinstance(v, str)}


def test_the_mlflow_schema_is_written_once() -> None:
    """Tag names, roles, stage names, metric keys, the finished signal and the files two
    layers share live in study.contract; written elsewhere only where they mean another
    thing (`OTHER_MEANINGS`)."""
    words = _contract_words()
    assert {"lossbench.role", "final_paper_top5_error", "main", "parent", "train_loss",
            "reliability_test.json", "decisions", "comparisons.csv"} <= words  # fmt: skip
    assert stray_literals(_sources(), words) == OTHER_MEANINGS
    planted = {"study.orchestration.x": 'TAG = "ray.trial_id"\nf = "reliability_test.json"',
               "study.contract": 'X = "ray.trial_id"'}  # fmt: skip
    assert stray_literals(planted, words) == Counter(
        {("study.orchestration.x", "ray.trial_id"): 1,
         ("study.orchestration.x", "reliability_test.json"): 1})  # fmt: skip


def stage_name_mismatches(stages: Mapping[str, object]) -> list[str]:
    """Stages whose module or class is not named after the name they run under
    (`study.orchestration.stages.<name>.<Name>Stage`)."""
    wrong = []
    for name, stage in stages.items():
        kind = type(stage)
        expected = (f"study.orchestration.stages.{name}", f"{name.title()}Stage")
        if (kind.__module__, kind.__name__) != expected or getattr(stage, "name", None) != name:
            wrong.append(name)
    return wrong


def test_each_stage_kind_is_its_own_module_named_as_it_runs() -> None:
    stages = {n: STAGES.get(n) for n in STAGES.names()}
    assert set(stages) == {"main", "tune", "evaluate", "looks"}
    assert stage_name_mismatches(stages) == []
    assert stage_name_mismatches({"twice": _TwiceStage()}) == ["twice"]  # lives in tests/


class _TwiceStage:
    """A tiny example stage kind: after the grid, every grid point again with seed + 100."""

    name = "twice"
    order = 30
    compared = False

    def active(self, spec: object) -> bool:
        return True

    def expected(self, spec, ctx=None) -> int:  # type: ignore[no-untyped-def]
        return len(spec.grid_points())

    def cost(self, spec) -> Cost:  # type: ignore[no-untyped-def]
        return Cost(1, [(c, 1) for c in spec.trial_configs()])

    def rounds(self, ctx: StageContext) -> Iterator[list[TuneExperiment]]:
        grid = tuple({**p, "seed": p["seed"] + 100} for p in ctx.spec.grid_points())
        yield [TuneExperiment("twice", self.name, ctx.spec.base, grid)]


def test_a_new_stage_kind_is_one_registration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from study.orchestration.storage import Storage
    from study.tools.planning import plan_table

    monkeypatch.setitem(STAGES._entries, "twice", _TwiceStage())
    spec = spec_from_dict({"name": "x", "base": {"data": {"name": "digits"}},
                           "grid": {"seed": [0, 1, 2]}})  # fmt: skip
    assert [s.name for s in study_stages(spec)] == ["main", "twice"]
    assert expected_trials(spec) == {"main": 3, "twice": 3}
    assert [r["stage"] for r in plan_table(spec)] == ["main", "twice"]
    ctx = StageContext(spec, Storage.of(tmp_path))
    (plan,) = next(STAGES.get("twice").rounds(ctx))
    assert [g["seed"] for g in plan.grid] == [100, 101, 102]


def test_reading_a_study_imports_no_torch_or_ray() -> None:
    """`study status` and the stored record are read on login nodes: the spec package must
    not pull in torch (the loss registry) or Ray at import."""
    import subprocess

    code = (
        "import sys, study.tools.status, study.orchestration.record, study.orchestration.spec; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'ray', 'optuna'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


# tests/ mirrors the package: one folder per layer (and e2e/), whole-project checks on top
TEST_FOLDERS = {"training", "orchestration", "store", "tools", "analysis", "e2e"}
TOP_TESTS = {"test_layout.py", "test_lock.py"}


def misplaced_tests(paths: Iterable[Path]) -> list[str]:
    """Test files (relative to tests/) outside the folders that mirror the package."""
    return [str(p) for p in paths
            if (len(p.parts) == 1 and p.name not in TOP_TESTS)
            or (len(p.parts) > 1 and p.parts[0] not in TEST_FOLDERS)]  # fmt: skip


def test_tests_mirror_the_package() -> None:
    here = Path(__file__).parent
    found = [p.relative_to(here) for p in here.rglob("test_*.py")]
    assert misplaced_tests(found) == []
    assert {p.parts[0] for p in found if len(p.parts) > 1} == TEST_FOLDERS
    planted = [Path("test_orchestration.py"), Path("misc/test_x.py"), Path("store/test_a.py")]
    assert misplaced_tests(planted) == ["test_orchestration.py", "misc/test_x.py"]
