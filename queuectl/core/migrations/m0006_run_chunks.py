"""`run_chunk`: a running job's output, saved as appended rows of what it printed since the last save.

Saving the whole kept tail at every heartbeat made write traffic in proportion to the tail
(a 1 GiB tail: a 1 GB WAL, 90 % of a core), because both stores rewrite a changed blob whole.
`seq` is the run's byte count at the chunk's end (its `output_bytes` then): chunks that end before
the kept tail are deleted as new ones come. At the run's end its tail goes to `run.output` and its
chunks are deleted.

Depends only on m0001's schema (a new table referring to `job`).
"""

from __future__ import annotations

from queuectl.core.db import Store


def up(store: Store) -> None:
    seq = "INTEGER" if store.is_sqlite else "BIGINT"
    blob = "BLOB" if store.is_sqlite else "BYTEA"
    store.execute(
        f"""CREATE TABLE run_chunk (
            job_id TEXT NOT NULL REFERENCES job (id) ON DELETE CASCADE,
            run_number INTEGER NOT NULL,
            seq {seq} NOT NULL,
            data {blob} NOT NULL,
            PRIMARY KEY (job_id, run_number, seq)
        )"""
    )
