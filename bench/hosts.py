"""Several hosts on one PostgreSQL server: H hosts (`QUEUECTL_HOST_ID`) × `worker start -c N`, all
slots busy at once, and the server connections they hold.

    python bench/hosts.py --db postgresql://postgres@127.0.0.1/qhosts [--hosts 4] [--count 64]

The database is created if missing and its queuectl tables emptied. Each host has its own
QUEUECTL_HOME; `hosts × count` jobs of `sleep 60` are enqueued and the script waits until every one
is running at once, then counts the server's connections to the database (pg_stat_activity) and
the server's `max_connections`, prints `status --json`'s workers, and force-stops everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import psycopg2
from slots import empty_store  # bench/ is sys.path[0] when run as a script


def q(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run([sys.executable, "-m", "queuectl", *args], env=env, input=stdin, text=True,
                          capture_output=True, check=True).stdout


def ensure_database(url: str) -> None:
    base, name = url.rsplit("/", 1)
    conn = psycopg2.connect(base + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--count", type=int, default=64)
    args = parser.parse_args()
    ensure_database(args.db)
    name = args.db.rsplit("/", 1)[1]
    with tempfile.TemporaryDirectory() as root:
        envs = []
        for i in range(args.hosts):
            home = os.path.join(root, f"host{i}")
            os.mkdir(home)
            envs.append(dict(os.environ, QUEUECTL_HOME=home, QUEUECTL_DB=args.db, QUEUECTL_HOST_ID=f"bench-host-{i}"))
        first = envs[0]
        q(first, "worker", "stop", "--force", "--wait")
        empty_store(args.db)
        total = args.hosts * args.count
        try:
            for env in envs:
                q(env, "worker", "start", "-c", str(args.count))
            q(first, "enqueue", "-", stdin="".join('{"command": "sleep 60"}\n' for _ in range(total)))
            began = time.monotonic()
            admin = psycopg2.connect(args.db)
            admin.autocommit = True
            cur = admin.cursor()
            while True:
                cur.execute("SELECT count(*) FROM job WHERE state = 'processing'")
                running = cur.fetchone()[0]
                if running >= total or time.monotonic() - began > 120:
                    break
                time.sleep(0.2)
            took = time.monotonic() - began
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,))
            conns = cur.fetchone()[0]
            cur.execute("SHOW max_connections")
            limit = cur.fetchone()[0]
            status = json.loads(q(first, "status", "--json"))
            print(f"{args.hosts} hosts x -c {args.count}: {running}/{total} jobs running at once after {took:.1f} s; "
                  f"workers {status['workers']}; connections to {name} (this script's excluded): {conns}; "
                  f"server max_connections {limit}")
            admin.close()
        finally:
            for env in envs:
                subprocess.run([sys.executable, "-m", "queuectl", "worker", "stop", "--force", "--wait",
                                "--timeout", "30"], env=env, capture_output=True)
            empty_store(args.db)


if __name__ == "__main__":
    main()
