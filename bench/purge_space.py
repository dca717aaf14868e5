"""Space after purge on SQLite: fill a store with N completed jobs of 50 KB output, purge them.

    python bench/purge_space.py [--jobs 2000]

Baseline: the store's size (file + WAL) when full, measured in the same run; prints the size
after `purge` and its ratio to that (1.0 = nothing came back).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import Completed
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store

OUTPUT = 50_000


def _size(db: Path) -> int:
    wal = Path(str(db) + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="queuectl-purge-"))
    try:
        db = folder / "q.db"
        url = "sqlite:///" + str(db).lstrip("/")
        store = open_store(url, durable=False)  # filled as workers record runs
        queue, settings = JobQueue(store), Settings()
        queue.enqueue([JobSpec(command="true") for _ in range(args.jobs)], settings)
        job = queue.claim("w-bench")
        while job is not None:
            _, job = queue.finish_and_claim(job, "w-bench", RunStart("h", 1, None, 0.0), Completed(), settings,
                                            output=os.urandom(OUTPUT), output_bytes=OUTPUT)
        store.close()
        full = _size(db)
        store = open_store(url)  # purged as the CLI does
        start = time.perf_counter()
        JobQueue(store).purge()
        took = time.perf_counter() - start
        store.close()
        after = _size(db)
        print(f"{args.jobs} jobs x {OUTPUT // 1000} KB: store {full / 1e6:.1f} MB full, {after / 1e6:.1f} MB after "
              f"purge ({took:.2f} s); ratio {after / full:.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
