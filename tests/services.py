"""Real servers for the cluster-path tests, each on 127.0.0.1, started and stopped by PID.

* PostgreSQL 16: the server binaries that the `pgserver` wheel ships (pip-installed into the
  virtualenv by `make test`: no root, no system package), run here directly: `initdb` with a
  password (scram-sha-256), then `postgres -h 127.0.0.1 -p PORT` in its own process group.
  pgserver's own launcher is not used: it listens on a Unix socket only and, as root, adds a
  system user and widens the permissions of every parent folder. PostgreSQL refuses to run as
  root, so as root the server runs as `nobody` from a private copy of the binaries (a checkout
  under a 0700 home would not be readable by `nobody`).
* S3: moto's server (`python -m moto.server`) with IAM enforced after the setup calls, one
  bucket for the study and another one the study user may not touch; `Outage`, a TCP proxy
  in front of it that goes away and comes back (moto keeps its buckets in memory: stopping
  it would lose them).

A server that cannot start raises: the tests that need it fail, they are never skipped.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import free_port

DB_USER = "lossbench"
BUCKET = "lossbench-test"
OTHER_BUCKET = "not-the-study-s"


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0): it is gone once its state says so
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"


def group_gone(pgid: int) -> bool:
    """No live process left in process group `pgid`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return False
    return True


def stop_group(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    """Stop a process started with start_new_session=True, and everything in its group."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    deadline = time.monotonic() + timeout
    while not group_gone(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not group_gone(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"process group {proc.pid} outlived its server")


@dataclass(frozen=True)
class Postgres:
    uri: str  # postgresql://lossbench:PASSWORD@127.0.0.1:PORT/mlflow
    password: str
    proc: subprocess.Popen[bytes]


def _pg_user() -> tuple[int | None, int | None]:
    if os.geteuid() != 0:
        return None, None
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _copy_postgres(home: Path) -> Path:
    """pgserver's binaries with the shared libraries auditwheel put beside the package (their
    RPATH is `$ORIGIN/../../../pgserver.libs`); not imported: pgserver's import has side
    effects (a lock file in the user's runtime folder)."""
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.submodule_search_locations, "pgserver is not installed"
    package = Path(next(iter(spec.submodule_search_locations)))
    shutil.copytree(package / "pginstall", home / "pgserver" / "pginstall", symlinks=True)
    shutil.copytree(package.parent / "pgserver.libs", home / "pgserver.libs", symlinks=True)
    return home / "pgserver" / "pginstall"


@contextmanager
def postgres() -> Iterator[Postgres]:
    uid, gid = _pg_user()
    home = Path(tempfile.mkdtemp(prefix="lossbench-pg-"))
    install = _copy_postgres(home)
    password = "pg-" + os.urandom(12).hex()
    (home / "pw").write_text(password)
    data = home / "data"
    if uid is not None:
        for path in [home, *home.rglob("*")]:
            os.lchown(path, uid, gid if gid is not None else -1)
    run_as = {"user": uid, "group": gid} if uid is not None else {}
    subprocess.run(
        [str(install / "bin" / "initdb"), "-D", str(data), "-U", DB_USER, "--auth=scram-sha-256",
         f"--pwfile={home / 'pw'}", "-E", "utf8"],
        check=True, capture_output=True, **run_as,
    )  # fmt: skip
    port = free_port()
    log = (home / "postgres.log").open("ab")
    proc = subprocess.Popen(
        [str(install / "bin" / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
         "-k", str(home)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **run_as,
    )  # fmt: skip
    uri = f"postgresql://{DB_USER}:{password}@127.0.0.1:{port}/mlflow"
    try:
        _create_database(port, password, proc, home)
        yield Postgres(uri, password, proc)
    finally:
        stop_group(proc, signal.SIGINT)  # PostgreSQL's "fast shutdown"
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _create_database(port: int, password: str, proc: subprocess.Popen[bytes], home: Path) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            conn = psycopg.connect(
                host="127.0.0.1", port=port, user=DB_USER, password=password, dbname="postgres",
                autocommit=True,
            )  # fmt: skip
            break
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (home / "postgres.log").read_text(errors="ignore")[-3000:]
                raise RuntimeError(f"PostgreSQL did not start: {log}") from None
            time.sleep(0.2)
    with conn:
        conn.execute("CREATE DATABASE mlflow")


@dataclass(frozen=True)
class S3:
    endpoint: str
    env: dict[str, str]  # what a user exports for AWS: key id, secret, region, endpoint
    secret: str
    proc: subprocess.Popen[bytes]

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.secret, region_name=self.env["AWS_DEFAULT_REGION"],
        )  # fmt: skip


SETUP_CALLS = 5  # the admin calls in `s3` before IAM is enforced (moto counts them)


@contextmanager
def s3() -> Iterator[S3]:
    """moto on 127.0.0.1 with two buckets and a user whose policy allows its bucket only."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.2)
        admin = {
            "endpoint_url": endpoint, "region_name": "us-east-1",
            "aws_access_key_id": "setup", "aws_secret_access_key": "setup",
        }  # fmt: skip
        s3c, iam = boto3.client("s3", **admin), boto3.client("iam", **admin)
        s3c.create_bucket(Bucket=BUCKET)
        s3c.create_bucket(Bucket=OTHER_BUCKET)
        iam.create_user(UserName="study")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow", "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            }],
        }  # fmt: skip
        iam.put_user_policy(
            UserName="study", PolicyName="own-bucket", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName="study")["AccessKey"]
        user_env = {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }
        yield S3(endpoint, user_env, key["SecretAccessKey"], proc)
    finally:
        stop_group(proc)


class Outage:
    """A TCP proxy on 127.0.0.1 in front of `target` (host, port) that can go away and come
    back on the same port: `down()` closes its listening socket and every open connection
    (clients then meet "connection refused"), `up()` listens again. Threads of the test
    process; `close()` stops it."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target, self.port = target, free_port()
        self._socket, self._threading = socket, threading
        self._open: list[Any] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self.up()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        server = self._socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._server = server
        self._threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: Any) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed by `down`
            upstream = self._socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with suppress(OSError):
                    s.shutdown(self._socket.SHUT_RDWR)

    def down(self) -> None:
        self._server.close()
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(self._socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._open.clear()

    def close(self) -> None:
        self.down()
