"""A study's trial runs read through a tracking server, two ways: MLflow's `search_runs` page
by page (`ClientStore`, what a plain MLflow server offers) and `study server`'s bulk endpoint
(`ServerStore`: the SQL of `DatabaseStore.read_runs` on the server's database). PostgreSQL 16
on 127.0.0.1 behind the server (the tests' `tests/services.postgres`); the study is written by
`study bench tracking`'s logging (N trials of 2 epochs).

    .venv/bin/python benchmarks/server_reads.py --trials 2000

Prints the wall time of each way and the runs it read. Both servers are stopped by process
group at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study import contract as c
from study.store.client import ClientStore
from study.store.server import ServerStore
from study.tools.bench_scheduling import _spec
from study.tools.bench_tracking import bench_tracking
from study.tools.server import start_server, stop_server, wait_healthy
from tests.conftest import free_port
from tests.services import postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    n = parser.parse_args().trials
    name = _spec(n, 2).name
    with postgres() as pg, tempfile.TemporaryDirectory(prefix="lossbench-art-") as art:
        os.chdir(art)  # MLflow puts a database store's artifacts in ./mlruns
        bench_tracking(n, 2, pg.uri)
        port = free_port()
        server = start_server(port, pg.uri, art)
        try:
            uri = f"http://127.0.0.1:{port}"
            wait_healthy(uri)
            plain, bulk = ClientStore(uri), ServerStore(uri)
            exp = plain.find_experiment(name)
            assert exp is not None
            wanted = {c.ROLE_TAG: c.TRIAL_ROLE, c.STUDY_TAG: name}
            print(f"# {n} trial runs read through `study server` (PostgreSQL 16 behind it)")
            start = time.perf_counter()
            found = plain.read_runs(exp, wanted)  # search_runs, page by page
            print(f"MLflow search_runs, pages of {c.PAGE}: {time.perf_counter() - start:.2f} s "
                  f"({len(found)} runs)")  # fmt: skip
            start = time.perf_counter()
            found = bulk.read_runs(exp, wanted)
            print(f"study server's bulk endpoint: {time.perf_counter() - start:.2f} s "
                  f"({len(found)} runs)")  # fmt: skip
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
