"""`study bench faults` on PostgreSQL: a PostgreSQL 16 server started on 127.0.0.1 (the
tests' `tests/services.postgres`, from the `pgserver` wheel), the study's runs written straight
to it by the SQL writer; the uninterrupted study runs first, then the faulted one under the
same experiment name (the first renamed aside).

    .venv/bin/python benchmarks/faults_postgres.py --trials 10000 --epochs 2

Prints the benchmark's lines, the password masked. The server is stopped by process group.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.tools.bench_faults import bench_faults
from tests.services import postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with postgres() as pg, tempfile.TemporaryDirectory(prefix="lossbench-art-") as art:
        os.chdir(art)  # with a database URI and no server, MLflow's artifacts go to ./mlruns
        for line in bench_faults(args.trials, args.epochs, pg.uri):
            print(line.replace(pg.password, "***"), flush=True)


if __name__ == "__main__":
    main()
