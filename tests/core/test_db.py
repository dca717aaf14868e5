"""The Store's own layer over sqlite3 and psycopg2 (db.py): write transactions, savepoints, one
connection per thread, the drivers' errors as one family, and Peewee's model-bound reads sharing it."""

from __future__ import annotations

import threading

import pytest

from queuectl.core.db import DatabaseError, IntegrityError, Store, store_errors


def _settings(store: Store) -> dict[str, str]:
    return dict(store.execute("SELECT key, value FROM setting").fetchall())


def test_a_write_commits_and_a_failed_write_rolls_back(store):
    with store.write():
        store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("a", "1"))
    with pytest.raises(RuntimeError), store.write():
        store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("b", "2"))
        raise RuntimeError("changed my mind")
    assert _settings(store) == {"a": "1"} and not store.in_transaction()


def test_a_nested_write_is_a_savepoint_that_fails_alone(store):
    with store.write():
        store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("outer", "1"))
        with pytest.raises(IntegrityError), store.write():
            store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("inner", "1"))
            store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("outer", "2"))  # the key is taken
    assert _settings(store) == {"outer": "1"}


def test_driver_errors_are_one_family_with_the_drivers_error_as_cause(store):
    with pytest.raises(DatabaseError) as caught:
        store.execute("SELECT no_such_column FROM job")
    assert isinstance(caught.value, store_errors()) and caught.value.__cause__ is caught.value.orig
    assert "no_such_column" in str(caught.value)


def test_each_thread_has_its_own_connection(store):
    mine = store.connection()
    seen: list[object] = []
    thread = threading.Thread(target=lambda: (seen.append(store.connection()), store.close()))
    thread.start()
    thread.join()
    assert seen and seen[0] is not mine and store.connection() is mine


def test_model_bound_reads_run_on_the_stores_connection_inside_its_transaction(store, queue, clock):
    from queuectl.core.settings import Settings
    from queuectl.core.specs import JobSpec

    with store.write():
        (job_id,) = queue.add_in_transaction([JobSpec(command="true")], Settings(), clock.now())
        listed = queue.list_jobs()  # Peewee's query, on this thread's connection: sees the uncommitted row
    assert [j.id for j in listed] == [job_id] and store.db.connection() is store.connection()


def _hold_the_write_lock(store: Store, release: threading.Event, held: threading.Event) -> threading.Thread:
    """Another connection (another process, as far as SQLite can tell) holds the write lock until `release`."""
    import sqlite3

    def hold() -> None:
        conn = sqlite3.connect(str(store.path), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(30)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    return thread


@pytest.mark.backends("sqlite")
def test_a_write_waits_for_another_connections_write_lock_then_takes_it(store):
    release, held = threading.Event(), threading.Event()
    holder = _hold_the_write_lock(store, release, held)
    done: list[str] = []

    def write() -> None:
        with store.write():
            store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("after", "the lock"))
        done.append("written")
        store.close()

    waiting = threading.Thread(target=write)
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive() and not done  # still waiting: the lock is held
    release.set()
    holder.join()
    waiting.join(10)
    assert done == ["written"] and _settings(store) == {"after": "the lock"}


@pytest.mark.backends("sqlite")
def test_a_write_gives_up_after_the_busy_timeout_and_the_timeout_is_kept(store):
    store.bound_calls(0.3)  # a worker's bound: its busy timeout becomes 300 ms
    release, held = threading.Event(), threading.Event()
    holder = _hold_the_write_lock(store, release, held)
    try:
        with pytest.raises(DatabaseError, match="locked"), store.write():
            pass
    finally:
        release.set()
        holder.join()
    assert not store.in_transaction()
    # the wait for the lock sets the connection's own busy timeout aside, and puts it back
    assert store.execute("PRAGMA busy_timeout").fetchone()[0] == 300
    with store.write():
        store.execute("INSERT INTO setting (key, value) VALUES (?, ?)", ("then", "fine"))
    assert store.execute("PRAGMA busy_timeout").fetchone()[0] == 300
