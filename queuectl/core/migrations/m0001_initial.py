"""The first schema: jobs, their runs, workers and settings."""

from __future__ import annotations

from queuectl.core.db import Store
from queuectl.core.states import ALL_STATES, CLAIMABLE, WorkerState, sql_in


def up(store: Store) -> None:
    pk = "INTEGER PRIMARY KEY" if store.is_sqlite else "BIGSERIAL PRIMARY KEY"
    real = "REAL" if store.is_sqlite else "DOUBLE PRECISION"
    blob = "BLOB" if store.is_sqlite else "BYTEA"
    claimable = sql_in(CLAIMABLE)
    statements = [
        f"""CREATE TABLE job (
            seq {pk},
            id TEXT NOT NULL UNIQUE,
            command TEXT NOT NULL CHECK (command <> ''),
            cwd TEXT,
            env TEXT,
            queue TEXT NOT NULL DEFAULT 'default',
            priority INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN {sql_in(ALL_STATES)}),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            max_retries INTEGER NOT NULL CHECK (max_retries >= 0),
            timeout {real} NOT NULL DEFAULT 0 CHECK (timeout >= 0),
            run_at {real} NOT NULL,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            started_at {real},
            finished_at {real},
            worker_id TEXT,
            exit_code INTEGER,
            last_error TEXT,
            cancel_requested_at {real},
            CHECK (state <> 'processing' OR worker_id IS NOT NULL)
        )""",
        # The claim reads only claimable rows, in claim order: partial indexes keep them small.
        f"CREATE INDEX job_claim ON job (priority DESC, run_at, seq) WHERE state IN {claimable}",
        f"CREATE INDEX job_claim_queue ON job (queue, priority DESC, run_at, seq) WHERE state IN {claimable}",
        "CREATE INDEX job_state_seq ON job (state, seq)",
        "CREATE INDEX job_queue_seq ON job (queue, seq)",
        # No index on worker_id or finished_at: every index is written on the hot path, and
        # (state, seq) already narrows "processing" rows to a handful and purges to one state.
        f"""CREATE TABLE run (
            seq {pk},
            job_id TEXT NOT NULL REFERENCES job (id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            worker_id TEXT NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER,
            pid_created_at {real},
            started_at {real} NOT NULL,
            finished_at {real},
            exit_code INTEGER,
            error TEXT,
            output {blob},
            output_bytes INTEGER NOT NULL DEFAULT 0,
            UNIQUE (job_id, number)
        )""",
        "CREATE INDEX run_finished ON run (finished_at) WHERE finished_at IS NOT NULL",
        f"""CREATE TABLE worker (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_created_at {real} NOT NULL,
            queues TEXT,
            state TEXT NOT NULL CHECK (state IN {sql_in(tuple(WorkerState))}),
            started_at {real} NOT NULL,
            heartbeat_at {real} NOT NULL,
            stopped_at {real},
            stop_requested_at {real},
            stop_force INTEGER NOT NULL DEFAULT 0,
            cancel_job_id TEXT,
            wake_addr TEXT
        )""",
        "CREATE INDEX worker_state ON worker (state)",
        "CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]
    for statement in statements:
        store.execute(statement)
