"""Values the store must hold, and values it refuses (issue 13, items 6 and 7).

- `run.output_bytes` counts everything a run printed: more than 2**31 must fit (PostgreSQL's
  INTEGER did not: migration m0004 makes it BIGINT).
- A result the store refuses for good (a value out of range, a blob too big) ends the run as
  failed, without the refused output, instead of being retried for ever by every worker in turn.
  The refusal is staged with a trigger on `run` that raises the store's own "out of range" /
  "too big" error for a run that printed more than 1,000 bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reliability_support import RQueuectl


def test_a_store_holds_output_counts_beyond_32_bits(q: RQueuectl):
    from queuectl.core.queue import JobQueue
    from queuectl.core.records import RunStart
    from queuectl.core.results import Completed
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec

    store = q.store()
    queue = JobQueue(store)
    queue.enqueue([JobSpec(command="true", id="big")], Settings())
    job = queue.claim("w-test")
    huge = 2**31 + 12345
    done = queue.finish(job, "w-test", RunStart("h", 1, None, 0.0), Completed(), Settings(), output=b"x",
                        output_bytes=huge)
    assert done.state == "completed"
    assert queue.runs("big")[0].output_bytes == huge
    if not q.is_sqlite:
        assert q.sql("SELECT data_type FROM information_schema.columns "
                     "WHERE table_name = 'run' AND column_name = 'output_bytes'") == [("bigint",)]


_REFUSE_SQLITE = """
CREATE TRIGGER refuse_{op} BEFORE {op} ON run WHEN NEW.output_bytes > 1000
BEGIN SELECT RAISE(ABORT, 'string or blob too big'); END
"""
_REFUSE_PG = """
CREATE FUNCTION refuse_big() RETURNS trigger AS $$
BEGIN
  IF NEW.output_bytes > 1000 THEN
    RAISE EXCEPTION 'integer out of range' USING ERRCODE = 'numeric_value_out_of_range';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_big BEFORE INSERT OR UPDATE ON run FOR EACH ROW EXECUTE FUNCTION refuse_big();
"""


@pytest.mark.parametrize("length", ["quick", "long"])
def test_a_result_the_store_refuses_for_good_ends_the_run_failed(q: RQueuectl, length):
    q.configure(poll_interval=0.05)
    store = q.store()
    with store.write():
        if q.is_sqlite:
            for op in ("INSERT", "UPDATE"):
                store.execute(_REFUSE_SQLITE.format(op=op))
        else:
            store.execute(_REFUSE_PG)
    pause = "sleep 1.2; " if length == "long" else ""  # a long run also saves its output while it runs
    job = q.enqueue_many([{"id": "loud", "command": f"head -c 2000 /dev/zero | tr '\\0' x; {pause}true",
                           "max_retries": 0}])[0]
    w = q.spawn_worker()
    q.wait_registered([w])
    done = q.wait_state(job, "dead", "completed", "failed", timeout=20)
    assert done.state == "dead", done
    run = q.runs(job)[-1]
    assert run.error and run.error.startswith("result refused by the store"), run
    log = w.log.read_text()
    assert "the store refuses its result" in log and "Traceback" not in log, log
    assert w.proc.poll() is None, "the worker carries on"


# ── item 8: space comes back after purge (SQLite) ────────────────────────────────────────────

# 400 keeps the test quick; bench/RESULTS.md quotes the run with QUEUECTL_TEST_PURGE_JOBS=2000
JOBS, OUTPUT = int(os.environ.get("QUEUECTL_TEST_PURGE_JOBS", "400")), 50_000


def _fill(store, n: int = JOBS) -> None:
    """n completed jobs with OUTPUT bytes of output each, through the core as workers record them."""
    from queuectl.core.queue import JobQueue
    from queuectl.core.records import RunStart
    from queuectl.core.results import Completed
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec

    queue, settings = JobQueue(store), Settings()
    queue.enqueue([JobSpec(command="true") for _ in range(n)], settings)
    job = queue.claim("w-fill")
    while job is not None:
        _, job_next = queue.finish_and_claim(job, "w-fill", RunStart("h", 1, None, 0.0), Completed(), settings,
                                             output=os.urandom(OUTPUT), output_bytes=OUTPUT)
        job = job_next


def _sizes(db: Path) -> tuple[int, int]:
    wal = Path(str(db) + "-wal")
    return db.stat().st_size, wal.stat().st_size if wal.exists() else 0


@pytest.mark.backends("sqlite")  # the SQLite file itself
def test_purge_gives_the_space_back_and_the_wal_stays_capped(q: RQueuectl):
    q.run("status")  # creates the store
    empty, _ = _sizes(q.db_path)
    _fill(q.store())
    full, wal_full = _sizes(q.db_path)
    q.close()
    assert q.json("purge")["purged"] == JOBS
    after, wal_after = _sizes(q.db_path)
    print(f"\n{JOBS} jobs × {OUTPUT // 1000} KB: store {empty / 1e6:.1f} MB empty, {full / 1e6:.1f} MB full "
          f"(WAL {wal_full / 1e6:.1f} MB), {after / 1e6:.1f} MB after purge (WAL {wal_after / 1e6:.1f} MB)")
    grown = full + wal_full - empty
    assert after + wal_after < empty + grown // 10, (
        f"purge left {after} + {wal_after} (WAL) bytes of a {full} + {wal_full}-byte store")
