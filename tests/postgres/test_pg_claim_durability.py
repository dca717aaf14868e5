"""A claim is durable before its job starts, although workers commit asynchronously (issue 13,
item 1).

Workers' connections use `synchronous_commit=off`: a commit returns before its WAL is written,
and a crash of the server loses it. For a claim that meant the job ran while the store had it
pending again, and another worker claimed and ran it a second time. The server here is a private
cluster whose WAL writer waits 10 s (`wal_writer_delay`), so an asynchronous commit is still
only in memory when the server crashes (`pg_ctl stop -m immediate`) right after the claim.
"""

from __future__ import annotations

from pg_admin import run_sql


def test_a_claim_survives_a_server_crash_right_after_it(private_pg):
    from queuectl.core.queue import JobQueue
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec
    from queuectl.core.store import open_store

    admin = private_pg.url("postgres")
    run_sql("ALTER SYSTEM SET wal_writer_delay = '10s'", "SELECT pg_reload_conf()", url=admin)
    url = private_pg.create_database("claims")
    cli = open_store(url)  # the CLI's connection: synchronous commits
    JobQueue(cli).enqueue([JobSpec(command="true", id=f"c{i}") for i in range(3)], Settings())
    cli.close()
    worker = open_store(url, durable=False)  # a worker's connection: synchronous_commit=off
    queue = JobQueue(worker)
    claimed = [queue.claim("w-1").id]  # a claim on its own
    with worker.write():  # … and one inside a transaction, as finish_and_claim makes it
        claimed.append(queue.claim("w-1").id)
    worker.close()
    private_pg._cmd("pg_ctl", "-D", str(private_pg.data), "-m", "immediate", "-w", "-t", "30", "stop")
    private_pg.start()
    after = open_store(url)
    try:
        rows = dict(after.execute("SELECT id, state || ' ' || coalesce(worker_id, '-') FROM job").fetchall())
    finally:
        after.close()
    assert {i: rows[i] for i in claimed} == {i: "processing w-1" for i in claimed}, (
        f"claims lost in the crash (the jobs would run again while their first run goes on): {rows}")
