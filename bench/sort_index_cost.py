"""What m0011's two sort indexes cost an enqueue: the same enqueues into two stores of N jobs,
one with the indexes and one without (as `main` before m0011), alternated, medians.

    python bench/sort_index_cost.py [--jobs 200000] [--rounds 5] [--singles 500] [--bulk 10000] [--pg URL]

Each round times `--singles` one-job enqueues (a transaction each, durable as the CLI's) and one
`--bulk` enqueue, in each store in turn. `--pg` (an admin URL such as
postgresql://postgres@127.0.0.1:5432/test) runs the same on two fresh PostgreSQL databases.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

M0011_INDEXES = ("job_priority_seq", "job_command_seq")


def make_stores(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str]]:
    if not args.pg:
        return [(name, f"sqlite:///{tmp / name}.db") for name in ("with", "without")]
    import psycopg2

    stores = []
    admin = psycopg2.connect(args.pg)
    admin.autocommit = True
    for name in ("with", "without"):
        db = f"queuectl_bench_{name}_{uuid.uuid4().hex[:8]}"
        admin.cursor().execute(f'CREATE DATABASE "{db}"')
        stores.append((name, f"{args.pg.rsplit('/', 1)[0]}/{db}"))
    admin.close()
    return stores


def drop_stores(args: argparse.Namespace, stores: list[tuple[str, str]]) -> None:
    if not args.pg:
        return
    import psycopg2

    admin = psycopg2.connect(args.pg)
    admin.autocommit = True
    for _, url in stores:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    admin.close()


def main() -> None:
    from queuectl.core.config import ConfigStore
    from queuectl.core.queue import JobQueue
    from queuectl.core.specs import JobSpec
    from queuectl.core.store import open_store

    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--pg", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores = make_stores(args, Path(tmp))
        try:
            opened = {}
            for name, url in stores:
                store = open_store(url)
                if name == "without":
                    with store.write():
                        for index in M0011_INDEXES:
                            store.execute(f"DROP INDEX {index}")
                queue = JobQueue(store)
                settings = ConfigStore(store).settings()
                for start in range(0, args.jobs, 50_000):
                    queue.enqueue([JobSpec(f"./process --input /srv/in/{i}.csv --out /srv/out", cwd="/srv")
                                   for i in range(start, min(args.jobs, start + 50_000))], settings)
                opened[name] = (queue, settings)
            singles: dict[str, list[float]] = {name: [] for name in opened}
            bulks: dict[str, list[float]] = {name: [] for name in opened}
            for r in range(args.rounds):
                for name in (("with", "without") if r % 2 == 0 else ("without", "with")):
                    queue, settings = opened[name]
                    t = time.perf_counter()
                    for i in range(args.singles):
                        queue.enqueue([JobSpec(f"./process --input /srv/in/s{r}-{i}.csv", cwd="/srv")], settings)
                    singles[name].append((time.perf_counter() - t) / args.singles)
                    specs = [JobSpec(f"./process --input /srv/in/b{r}-{i}.csv", cwd="/srv") for i in range(args.bulk)]
                    t = time.perf_counter()
                    queue.enqueue(specs, settings)
                    bulks[name].append(time.perf_counter() - t)
            for queue, _ in opened.values():
                queue.store.close()
        finally:
            drop_stores(args, stores)
    kind = "PostgreSQL" if args.pg else "SQLite"
    for label, runs, unit in (("one-job enqueue", singles, 1e6), (f"{args.bulk:,}-job enqueue", bulks, 1e3)):
        w, wo = statistics.median(runs["with"]), statistics.median(runs["without"])
        u = "µs" if unit == 1e6 else "ms"
        print(f"{kind} {label:<18} with m0011 {w * unit:8.1f} {u}   without {wo * unit:8.1f} {u}   "
              f"ratio {w / wo:.2f}  (runs with: {', '.join(f'{x * unit:.0f}' for x in runs['with'])}; "
              f"without: {', '.join(f'{x * unit:.0f}' for x in runs['without'])})")


if __name__ == "__main__":
    main()
