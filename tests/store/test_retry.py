"""What the store retries (`study.store.retry`): a gateway's 502/503/504 and an unreachable
store, never a refusal, even one whose run or experiment id contains those digits."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from study.store.retry import is_transient, with_retries

RUN = "9d4e069278504570aacc3702ec5c2ec0"  # "504" inside a run id


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (
            MlflowException(
                f"The run {RUN} must be in the 'active' state. Current state is deleted."
            ),
            False,
        ),
        (
            MlflowException(
                "Changing param values is not allowed. Param with key='p' was "
                "already logged with value='1' for run ID='ab502cd0503e'."
            ),
            False,
        ),
        (
            MlflowException(
                "API request to endpoint /api/2.0/mlflow/runs/update failed with "
                "error code 503 != 200. Response body: ''"
            ),
            True,
        ),
        (RuntimeError("502 Server Error: Bad Gateway for url: http://127.0.0.1:5000/api"), True),
        (
            RuntimeError(
                "Max retries exceeded with url: /api (Caused by ResponseError('too many "
                "504 error responses'))"
            ),
            True,
        ),
        (MlflowException("The experiment 504 must be in the 'active' state."), False),
        (RuntimeError("HTTPError: Service Unavailable"), True),
        (MlflowException("(sqlite3.OperationalError) database is locked"), True),
        (ConnectionRefusedError("[Errno 111] Connection refused"), True),
    ],
)
def test_what_counts_as_transient(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_a_refusal_naming_a_run_id_with_504_is_raised_at_once() -> None:
    calls = []

    def refuse() -> None:
        calls.append(1)
        raise MlflowException(f"The run {RUN} must be in the 'active' state.")

    with pytest.raises(MlflowException, match="active"):
        with_retries(refuse, "set_terminated", delays=(0, 0, 0))
    assert len(calls) == 1


def test_a_gateway_timeout_is_retried_until_it_answers() -> None:
    answers = iter([MlflowException("failed with error code 504 != 200"), None])

    def flaky() -> str:
        error = next(answers)
        if error:
            raise error
        return "ok"

    assert with_retries(flaky, "log_batch", delays=(0, 0, 0)) == "ok"
