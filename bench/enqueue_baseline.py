"""The floor for `queuectl enqueue 'CMD'`: the least a Python enqueue can do, as one script.

Parse the command (argparse), open a SQLite file in WAL mode with synchronous=FULL (queuectl's
durability), BEGIN IMMEDIATE, INSERT one row, COMMIT, print its id. `bench/cli_startup.py` times
queuectl against it in the same run.

    python bench/enqueue_baseline.py --db /tmp/x/baseline.db 'echo hi'
"""

import argparse
import os
import sqlite3
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("command")
    args = parser.parse_args()
    conn = sqlite3.connect(args.db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS job (id TEXT PRIMARY KEY, command TEXT NOT NULL, cwd TEXT, "
                 "state TEXT NOT NULL, created_at REAL NOT NULL)")
    job_id = f"{time.time_ns():x}"
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO job (id, command, cwd, state, created_at) VALUES (?, ?, ?, 'pending', ?)",
                 (job_id, args.command, os.getcwd(), time.time()))
    conn.execute("COMMIT")
    print(job_id)


if __name__ == "__main__":
    main()
