"""`study.store.client.ClientStore` on its own: every page of `search_runs` is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from study import contract as c
from study.store.client import ClientStore
from tests.store.test_contract import write_study


def test_every_run_is_read_however_many_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No silent truncation: with pages of 2 runs, all 3 trial runs still come back."""
    store = ClientStore(f"sqlite:///{tmp_path / 'm.db'}")
    exp, parent = write_study(store, "paged")
    monkeypatch.setattr(c, "PAGE", 2)
    pages: list[Any] = []
    real = store.mlflow.search_runs

    def counted(*args: Any, **kwargs: Any) -> Any:
        pages.append(kwargs.get("page_token"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store.mlflow, "search_runs", counted)
    assert len(store.read_trials(exp, "s", parent)) == 3
    assert len(pages) == 2 and pages[0] is None and pages[1]
