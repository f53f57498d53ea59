"""Whether lossbench can use a tracking URI, said in one line before anything is read or
written: a scheme it knows, a database that answers (SQLAlchemy, the driver MLflow uses), a
tracking server that answers its health check and, when it asks for credentials (`study
server --auth`, MLflow's basic-auth), accepts those in the environment
(`MLFLOW_TRACKING_USERNAME`, `MLFLOW_TRACKING_PASSWORD`, what MLflow's client sends). The
standard library's urllib does the HTTP, so that a check costs no MLflow import."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request

from study import contract as c
from study.errors import UserError
from study.store.uris import sqlite_path

USER_VAR, PASSWORD_VAR = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
HTTP = ("http", "https")


def redacted(uri: str) -> str:
    """`postgresql://user:***@host/db`: a URI fit to print."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.password:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def credentials(what: str) -> tuple[str, str]:
    """The user and password of `MLFLOW_TRACKING_USERNAME` / `_PASSWORD`, else a `UserError`."""
    user, password = os.environ.get(USER_VAR, ""), os.environ.get(PASSWORD_VAR, "")
    if not (user and password):
        raise UserError(f"{what}: set {USER_VAR} and {PASSWORD_VAR} in the environment")
    return user, password


def check_usable(uri: str, reading: bool = True) -> None:
    """A `UserError` in one line unless `uri` can be used (`reading`: a SQLite file must
    exist already; a writer creates it)."""
    kind = c.scheme(uri)
    if kind not in (*c.DATABASES, *HTTP):
        known = ", ".join(c.DATABASES)
        raise UserError(f"tracking URI {redacted(uri)!r}: lossbench reads and writes "
                        f"{known} databases and http(s) tracking servers")  # fmt: skip
    if kind in HTTP:
        check_server(uri)
    elif (db := sqlite_path(uri)) is not None:
        if reading and not db.is_file():
            raise UserError(f"tracking URI: no tracking DB at {db}; run a study first")
    else:
        _connect(uri)


def _connect(uri: str) -> None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(uri, connect_args=_timeout(uri))
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any driver's error: the URI is unusable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"tracking URI {redacted(uri)}: cannot connect ({first})") from None


def _timeout(uri: str) -> dict[str, int]:
    return {"connect_timeout": 10} if c.scheme(uri) in ("postgresql", "mysql") else {}


def is_healthy(uri: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def check_server(uri: str) -> None:
    """The server answers its health check, and accepts the environment's credentials if it
    asks for any."""
    if not is_healthy(uri):
        raise UserError(
            f"tracking URI: the tracking server at {uri} does not answer ({uri}/health); "
            f"start it with `study server` or fix the URI"
        )
    if _probe(uri, with_credentials=False) != 401:
        return
    user, _ = credentials(f"the tracking server at {uri} asks for credentials")
    if _probe(uri, with_credentials=True) == 401:
        raise UserError(f"the tracking server at {uri} refused the credentials of user "
                        f"{user!r} ({USER_VAR}, {PASSWORD_VAR})")  # fmt: skip


def _probe(uri: str, with_credentials: bool) -> int:
    """The status of a search for one experiment (200, or 401 where credentials are asked)."""
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/search?max_results=1"
    req = urllib.request.Request(url)
    if with_credentials:
        token = f"{os.environ[USER_VAR]}:{os.environ[PASSWORD_VAR]}".encode()
        req.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"tracking URI: the tracking server at {uri} stopped answering "
                        f"({exc})") from None  # fmt: skip
