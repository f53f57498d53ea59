"""Bad input: one clear line naming the key, exit code 2, nothing written anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from study.tools.cli import main, parse_sets
from tests.conftest import tiny_dict


def _write(tmp_path: Path, raw: object) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    return path


def _space(root: Path, **base: object) -> dict:
    return {"name": "bad", "base": tiny_dict(root, **base), "grid": {"seed": [0]}}


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("unknown_loss", "unknown loss 'adaptive'"),
        ("unknown_dataset", "unknown dataset 'imagenet'"),
        ("malformed", "malformed YAML"),
        ("missing_data", "cifar-100-python"),
        ("negative_lr", "optim.lr: invalid value -0.1"),
        ("unknown_key", "optim.learning_rate: unknown key"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    case: str,
    needle: str,
    tmp_path: Path,
    fake_cifar_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spaces = {
        "unknown_loss": _space(fake_cifar_root, loss={"name": "adaptive"}),
        "unknown_dataset": _space(fake_cifar_root, data={"name": "imagenet"}),
        "malformed": "name: bad\nbase: {data: [\n",
        "missing_data": _space(tmp_path / "no-data"),
        "negative_lr": _space(fake_cifar_root, optim={"lr": -0.1}),
        "unknown_key": _space(fake_cifar_root, optim={"learning_rate": 0.1}),
    }
    space = _write(tmp_path, spaces[case])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = main(
        ["run", str(space), "--tracking-uri", str(work / "t.db"), "--storage", str(work / "s")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("study: error:") and needle in err and "\n" not in err
    assert list(work.iterdir()) == []  # no DB, no storage folder, nothing in cwd
    assert not (tmp_path / "no-data").exists()


def test_set_overrides_are_validated(tmp_path: Path, fake_cifar_root: Path) -> None:
    space = _write(tmp_path, _space(fake_cifar_root))
    code = main(["run", str(space), "--storage", str(tmp_path / "s"), "--set", "optim.lr=-1"])
    assert code == 2 and not (tmp_path / "s").exists()


def test_parse_sets_reads_yaml_values() -> None:
    assert parse_sets(["optim.lr=0.2", "loss={name: lace}", "data.flip=false"]) == {
        "optim.lr": 0.2,
        "loss": {"name": "lace"},
        "data.flip": False,
    }


def test_ui_without_a_db_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ui", "--tracking-uri", str(tmp_path / "none.db")]) == 2
    assert "no tracking DB" in capsys.readouterr().err


def test_trial_command_with_bad_config(tmp_path: Path, fake_cifar_root: Path) -> None:
    path = _write(tmp_path, tiny_dict(fake_cifar_root, schedule={"epochs": 0}))
    assert main(["trial", str(path)]) == 2


def test_ui_starts_mlflow_without_its_job_consumers() -> None:
    from study.tools.cli_tools import ui_command

    cmd, env = ui_command("sqlite:////tmp/x.db", "127.0.0.1", 5001)
    assert cmd[-4:] == ["--host", "127.0.0.1", "--port", "5001"] and "ui" in cmd
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


def test_study_trial_reads_a_study_yaml_through_its_extends() -> None:
    from study.tools.local_trial import load_trial_config

    root = Path(__file__).resolve().parents[2]
    cfg = load_trial_config(root / "search_spaces/digits_optim.yaml", {"optim.name": "adam"})
    assert (cfg.data.name, cfg.data.size, cfg.optim.name) == ("digits", 16, "adam")


def test_status_lists_the_unfinished_runs_first_and_at_most_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from study.tools import status

    def run(name: str, state: str) -> SimpleNamespace:
        return SimpleNamespace(info=SimpleNamespace(status=state, run_name=name),
                               data=SimpleNamespace(tags={}, metrics={"epoch": 3.0}))  # fmt: skip

    runs = [run(f"t{i}", "FINISHED") for i in range(4)] + [run("t9", "FAILED")]
    monkeypatch.setattr(status, "LISTED", 2)
    lines = status._run_lines(runs)
    assert "FAILED" in lines[0] and "t9" in lines[0] and "t0" in lines[1]
    assert lines[2] == "  ... 3 more runs (3 FINISHED) not listed" and len(lines) == 3
