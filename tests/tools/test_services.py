"""The real servers of the cluster-path tests: they answer, they enforce their credentials and
permissions, and stopping them leaves no process behind."""

from __future__ import annotations

import pytest

from tests.services import BUCKET, OTHER_BUCKET, group_gone, postgres, process_gone, s3

pytestmark = pytest.mark.e2e


def test_postgres_answers_with_its_password_only_and_stops_cleanly() -> None:
    import psycopg

    with postgres() as pg:
        with psycopg.connect(pg.uri) as conn:
            row = conn.execute("SELECT current_database(), inet_server_addr()::text").fetchone()
            assert row == ("mlflow", "127.0.0.1/32")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(pg.uri.replace(pg.password, "wrong"))
        pid = pg.proc.pid
    assert process_gone(pid) and group_gone(pid)


def test_s3_user_reaches_its_bucket_only_and_the_server_stops_cleanly() -> None:
    from botocore.exceptions import ClientError

    with s3() as store:
        client = store.client()
        client.put_object(Bucket=BUCKET, Key="probe", Body=b"1")
        assert client.get_object(Bucket=BUCKET, Key="probe")["Body"].read() == b"1"
        for call in (
            lambda: client.put_object(Bucket=OTHER_BUCKET, Key="probe", Body=b"1"),
            lambda: client.list_objects_v2(Bucket=OTHER_BUCKET),
            lambda: client.list_buckets(),
        ):
            with pytest.raises(ClientError, match="AccessDenied"):
                call()
        pid = store.proc.pid
    assert process_gone(pid) and group_gone(pid)


def test_printed_uris_mask_passwords() -> None:
    from study.store.access import redacted
    from study.tools.server import server_command, server_env

    uri = "postgresql://lossbench:s3cret@127.0.0.1:5432/mlflow"
    assert redacted(uri) == "postgresql://lossbench:***@127.0.0.1:5432/mlflow"
    assert redacted("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    # the backend URI reaches `mlflow server` through its environment, not its command line
    assert not any("s3cret" in part for part in server_command("127.0.0.1", 5000, "/art"))
    assert server_env(uri)["MLFLOW_BACKEND_STORE_URI"] == uri
