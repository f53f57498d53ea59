"""`study.orchestration.outage`: a remote storage's calls wait out an outage with backoff,
one warning line per outage (not per call), up to the bound; a refused request is not an
outage and raises at once."""

from __future__ import annotations

import logging

import pytest

from study.orchestration import outage
from study.orchestration.outage import StorageUnreachable, through_outage

DOWN = OSError("AWS Error NETWORK_CONNECTION during HeadObject operation: curlCode: 7, "
               "Couldn't connect to server")  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _flaky(failures: int, error: OSError = DOWN) -> object:
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error
        return "done"

    return call


def test_an_outage_is_waited_out_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with caplog.at_level(logging.WARNING, logger=outage.__name__):
        for _ in range(2):  # two outages: a line each
            assert through_outage("s3://b/x", _flaky(6), clock, clock.sleep) == "done"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("s3://b/x unreachable" in ln for ln in lines), lines
    assert clock.slept[:6] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_past_the_bound_it_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(outage.BOUND_VAR, "20")
    clock = Clock()
    with pytest.raises(StorageUnreachable, match="unreachable for 20 s"):
        through_outage("s3://b/y", _flaky(100), clock, clock.sleep)
    assert clock.now == 20.0


def test_a_refused_request_is_not_an_outage() -> None:
    clock = Clock()
    denied = OSError("AWS Error ACCESS_DENIED during PutObject operation: Access Denied")
    with pytest.raises(OSError, match="ACCESS_DENIED"):
        through_outage("s3://b/z", _flaky(1, denied), clock, clock.sleep)
    assert clock.slept == []


def test_ray_tune_meeting_the_outage_stops_the_study_in_one_line() -> None:
    """Past our bounded retries, Tune's own last listing of the experiment meets the outage:
    the study stops with what to do next, the runs settled; a local storage's OSError, or a
    refused request, is another error (None: raised as it is)."""
    from study.orchestration.stops import stop_error
    from study.orchestration.storage import Storage

    settled: list[bool] = []
    wrapped = RuntimeError("Tune failed")
    wrapped.__cause__ = OSError(f"When listing objects under key 'x/': {DOWN}")
    remote = Storage.of("s3://bucket/studies")
    stop = stop_error(wrapped, "demo", remote, lambda: settled.append(True))
    assert stop is not None and settled == [True]
    assert "s3://bucket/studies is unreachable" in str(stop) and "\n" not in str(stop)
    assert "`study resume demo --storage s3://bucket/studies`" in str(stop)
    refused = OSError("AWS Error ACCESS_DENIED during PutObject operation")
    assert stop_error(refused, "demo", remote, lambda: None) is None
    assert stop_error(DOWN, "demo", Storage.of("/tmp/somewhere"), lambda: None) is None
