from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from study.errors import ConfigError, UserError
from study.orchestration.spec import load_spec, spec_from_dict

SPACES = sorted((Path(__file__).parents[2] / "search_spaces").rglob("*.yaml"))


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_shipped_spaces_load(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert len(spec.trial_configs()) == len(spec.grid_points()) >= 2


def test_quickstart_is_ce_vs_lace_on_digits_times_three_seeds() -> None:
    spec = load_spec(Path(__file__).parents[2] / "search_spaces" / "quickstart.yaml")
    cells = {(c.loss.name, c.seed) for c in spec.trial_configs()}
    assert cells == {(loss, s) for loss in ("ce", "lace") for s in (0, 1, 2)}
    assert spec.base.data.name == "digits"


def test_paper_space_is_the_papers_protocol() -> None:
    spec = load_spec(Path(__file__).parents[2] / "search_spaces" / "paper.yaml")
    cfg = spec.base
    assert cfg.data.name == "cifar100" and cfg.model.width == 64
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == (0.1, 0.9, 5e-4)
    assert (cfg.schedule.epochs, cfg.schedule.step_size, cfg.schedule.batch_size) == (200, 50, 100)
    assert len(spec.grid_points()) == 10 and spec.resources.gpu == 1


def _spec(**extra: object) -> dict:
    raw = {"name": "t", "base": {"data": {"name": "digits"}}, "grid": {"seed": [0, 1]}}
    raw.update(extra)
    return raw


def test_grid_axes_are_crossed_in_order() -> None:
    spec = spec_from_dict(_spec(grid={"loss.name": ["ce", "lace"], "seed": [0, 1, 2]}))
    assert spec.grid_points()[:2] == [
        {"loss.name": "ce", "seed": 0},
        {"loss.name": "ce", "seed": 1},
    ]
    assert len(spec.grid_points()) == 6


def test_data_root_is_made_absolute() -> None:
    assert Path(spec_from_dict(_spec()).base.data.root).is_absolute()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"grids": {}}, "grids: unknown key"),
        ({"grid": {"seed": []}}, "grid.seed: invalid value"),
        ({"grid": {"optim.lr": [0.1, -1.0]}}, "optim.lr: invalid value -1.0"),
        ({"grid": {"loss.name": ["ce", "foo"]}}, "unknown loss 'foo'"),
        ({"resources": {"gpu": -1}}, "resources.gpu"),
        ({"resources": {"gpus": 1}}, "resources.gpus: unknown key"),
        ({"name": "a b"}, "name: invalid value"),
        ({"failure": {"max_failures": -1}}, "failure.max_failures"),
        ({"checkpoint": {"every_epochs": 0}}, "checkpoint.every_epochs: invalid value 0"),
        ({"checkpoint": {"every_seconds": "often"}}, "checkpoint.every_seconds: invalid value"),
        ({"checkpoint": {"every": 3}}, "checkpoint.every: unknown key"),
        # YAML's .inf is a float: refused like .nan, as not finite
        (
            {"base": {"data": {"name": "digits"}, "optim": {"lr": float("inf")}}},
            "optim.lr: invalid value inf (allowed: a finite number)",
        ),
        ({"grid": {"optim.lr": [0.1, float("nan")]}}, "optim.lr: invalid value nan"),
        # a window of 99 epochs in a 15-epoch schedule would average what never ran
        (
            {
                "base": {
                    "data": {"name": "digits"},
                    "schedule": {"epochs": 15},
                    "eval": {"final_window": 99},
                }
            },
            "eval.final_window: invalid value 99 (allowed: <= schedule.epochs (15))",
        ),
        # two identical trials: the analysis could not pair them
        ({"grid": {"seed": [0, 0]}}, "grid.seed: invalid value [0, 0] (allowed: distinct values"),
        (
            {"grid": {"loss": [{"name": "ce"}, {"name": "ce"}], "seed": [0]}},
            "grid.loss: invalid value",
        ),
    ],
)
def test_malformed_specs_name_the_key(extra: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        spec_from_dict(_spec(**extra))


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_spec(base={"optim": {"lr": -0.1}})))
    with pytest.raises(ConfigError, match=r"bad\.yaml: optim\.lr"):
        load_spec(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="malformed YAML"):
        load_spec(path)


def test_spec_hash_tracks_content() -> None:
    a, b = spec_from_dict(_spec()), spec_from_dict(_spec(grid={"seed": [0, 2]}))
    assert a.spec_hash() == spec_from_dict(_spec()).spec_hash() != b.spec_hash()


def test_noise_space_is_the_full_grid() -> None:
    spec = load_spec(Path(__file__).parents[2] / "search_spaces" / "noise.yaml")
    cfgs = spec.trial_configs()
    assert len(cfgs) == 8 * 7 * 5
    assert {(c.noise.kind, c.noise.rate) for c in cfgs} == {
        ("none", 0.0), ("symmetric", 0.2), ("symmetric", 0.4), ("symmetric", 0.6),
        ("symmetric", 0.8), ("asym_superclass", 0.2), ("asym_superclass", 0.4),
    }  # fmt: skip
    # one noise draw per seed, shared by the losses at that seed
    assert {c.noise.seed for c in cfgs} == {"trial"}
    assert {(c.seed, c.noise_draw_seed) for c in cfgs} == {(s, s) for s in range(5)}
    focal = [c for c in cfgs if c.loss.name == "focal"]
    assert {c.loss.params["gamma"] for c in focal} == {2.0}


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_shipped_spaces_plan(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from study.tools.cli import main

    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "GPU-hours" in out and "total" in out


def test_smoke_variants_extend_their_full_space() -> None:
    root = Path(__file__).parents[2] / "search_spaces"
    full, smoke = load_spec(root / "noise.yaml"), load_spec(root / "smoke" / "noise_smoke.yaml")
    assert smoke.base.optim == full.base.optim and smoke.base.model.width == 4
    assert smoke.base.schedule.epochs == 2 and len(smoke.grid_points()) == 12


def test_tune_then_evaluate_space() -> None:
    spec = load_spec(Path(__file__).parents[2] / "search_spaces" / "tune_then_evaluate.yaml")
    assert spec.search is not None and spec.evaluate is not None
    assert spec.search.metric.startswith("val_") and spec.base.data.val_fraction > 0
    lr = spec.search.params["optim.lr"]
    assert (lr.type, lr.low, lr.high) == ("logfloat", 0.01, 0.5)
    assert spec.search.params_for("focal")["loss.gamma"].high == 5.0
    assert spec.scheduler.name == "asha" and spec.evaluate.overrides == {"data.val_fraction": 0.0}


def _search_spec(**search: object) -> dict:
    raw = _spec(base={"data": {"name": "digits", "val_fraction": 0.2}})
    raw["search"] = {"params": {"optim.lr": {"type": "logfloat", "low": 0.01, "high": 0.5}}}
    raw["search"].update(search)
    return raw


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (_search_spec(metric="test_top1_error"), "search.metric: invalid value 'test_top1_error'"),
        (_search_spec(metric="final_test_top5_error"), "search.metric"),
        (_search_spec(num_samples="many"), "search.num_samples: invalid value 'many'"),
        (_search_spec(colour=1), "search.colour: unknown key"),
        (_search_spec(per_loss={"nope": {}}), "search.per_loss.nope: unknown loss"),
        (
            _search_spec(params={"optim.lr": {"type": "float", "low": 0.5, "high": 0.1}}),
            "search.params.optim.lr: low 0.5 must be below high 0.1",
        ),
        (
            _search_spec(params={"optim.lr": {"type": "float", "low": -1.0, "high": 0.1}}),
            "search.params.optim.lr: optim.lr: invalid value -1.0",
        ),
        (
            _search_spec(params={"optim.lrr": {"type": "float", "low": 0.0, "high": 0.1}}),
            "unknown key",
        ),
        (_search_spec(sampler={"name": "grid"}), "search.sampler.name: invalid value 'grid'"),
        (
            {**_spec(), "scheduler": {"name": "asha", "metric": "test_top1_error"}},
            "scheduler.metric",
        ),
        ({**_spec(), "scheduler": {"name": "hyperband"}}, "scheduler.name"),
        ({**_spec(), "evaluate": {"seeds": [1]}}, "evaluate: needs a search section"),
        ({**_search_spec(), "evaluate": {"seeds": []}}, "evaluate.seeds"),
        ({**_spec(), "analysis": {"metric": "final_val_top1_error"}}, "analysis.metric"),
    ],
)
def test_malformed_search_sections_name_the_key(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.").replace("(", r"\(")):
        spec_from_dict(raw)


def test_search_needs_a_validation_holdout() -> None:
    raw = _search_spec()
    raw["base"] = {"data": {"name": "digits"}}
    with pytest.raises(ConfigError, match=r"val_fraction > 0"):
        spec_from_dict(raw)


def test_extends_merges_over_the_parent(tmp_path: Path) -> None:
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(_spec(grid={"seed": [0, 1, 2]})))
    (tmp_path / "small.yaml").write_text(
        "extends: full.yaml\nname: small\nbase: {optim: {lr: 0.05}}\ngrid: {seed: [0]}\n"
    )
    spec = load_spec(tmp_path / "small.yaml")
    assert spec.name == "small" and spec.base.optim.lr == 0.05
    assert spec.base.data.name == "digits" and spec.grid_points() == [{"seed": 0}]
    (tmp_path / "loop.yaml").write_text("extends: loop.yaml\nname: loop\n")
    with pytest.raises(ConfigError, match="circular"):
        load_spec(tmp_path / "loop.yaml")


def _sequential(**seq: object) -> dict:
    raw = {"name": "s", "base": {"data": {"name": "digits"}},
           "grid": {"loss": [{"name": "ce"}, {"name": "lace"}]},
           "sequential": {"looks": [3, 6], **seq}}  # fmt: skip
    return raw


def test_sequential_section() -> None:
    spec = spec_from_dict(_sequential(alpha=0.1, min_effect=1.0))
    assert spec.sequential is not None and spec.sequential.looks == (3, 6)
    assert (spec.sequential.alpha, spec.sequential.min_effect) == (0.1, 1.0)
    assert "sequential" in spec.to_dict()
    # a study without the section keeps the hash it was stored with (no `sequential` key)
    assert "sequential" not in spec_from_dict(_spec()).to_dict()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"looks": [3, 2]}, "sequential.looks: invalid value"),
        ({"looks": [1, 3]}, "sequential.looks: invalid value"),
        ({"alpha": 1.5}, "sequential.alpha: invalid value"),
        ({"spending": "haybittle"}, "sequential.spending: invalid value"),
        ({"surprise": 1}, "sequential.surprise: unknown key"),
        ({"futility": "no"}, "sequential.futility: invalid value 'no'"),
    ],
)
def test_malformed_sequential_sections_name_the_key(change: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        spec_from_dict(_sequential(**change))


def test_sequential_grid_has_no_seed_and_has_the_reference() -> None:
    raw = _sequential()
    raw["grid"]["seed"] = [0, 1]
    with pytest.raises(ConfigError, match=r"grid\.seed: a sequential study takes its seeds"):
        spec_from_dict(raw)
    raw = _sequential()
    raw["grid"]["loss"] = [{"name": "lace"}, {"name": "focal"}]
    with pytest.raises(ConfigError, match="must hold the reference 'ce'"):
        spec_from_dict(raw)


def test_plan_warns_when_tpe_is_asked_for_more_than_it_is_documented_for() -> None:
    from study.tools.planning import plan_text

    many = spec_from_dict(_search_spec(num_samples=1500))
    assert "warning: 1500 samples per grid point asks tpe for more than the ~1,000" in plan_text(
        many
    )
    assert "warning" not in plan_text(spec_from_dict(_search_spec(num_samples=100)))
    assert "warning" not in plan_text(
        spec_from_dict(_search_spec(num_samples=1500, sampler={"name": "random"}))
    )
