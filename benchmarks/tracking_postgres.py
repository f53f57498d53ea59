"""`study bench tracking` on PostgreSQL: a PostgreSQL 16 server started on 127.0.0.1 (the
tests' `tests/services.postgres`, from the `pgserver` wheel), the trials' results logged
straight to it; `study status` reads it there, and `study report` reads the study back
through a `study server` in front of it (MLflow over HTTP), as a cluster user would.

    .venv/bin/python benchmarks/tracking_postgres.py --trials 10000 --epochs 24

Prints the benchmark's lines. Both servers are stopped by process group at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.tools.bench_tracking import bench_tracking
from study.tools.server import start_server, stop_server, wait_healthy
from tests.conftest import free_port
from tests.services import postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=24)
    args = parser.parse_args()
    with postgres() as pg, tempfile.TemporaryDirectory(prefix="lossbench-art-") as art:
        # the experiment's artifacts: with a database URI and no server, MLflow puts them in
        # ./mlruns of the current folder
        os.chdir(art)
        port = free_port()
        server = start_server(port, pg.uri, art)
        try:
            uri = f"http://127.0.0.1:{port}"
            wait_healthy(uri)
            for line in bench_tracking(args.trials, args.epochs, pg.uri, read_uri=uri):
                print(line.replace(pg.password, "***"), flush=True)
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
