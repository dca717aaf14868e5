"""Fixtures of the PostgreSQL / several-hosts suite.

`pq`: the CLI against a fresh database on the shared server (`pg_url`, tests/conftest.py) and a
private QUEUECTL_HOME. `private_pg` + `pq_private`: the same against a private PostgreSQL
cluster the test may stop and start (never the shared server, which parallel tests use).

At teardown every process of the test is stopped and must be gone: workers are stopped (forced)
through the store, Popen'd processes reaped, and anything still carrying the test's
QUEUECTL_HOME is killed and fails the test. Job processes that a test orphaned on purpose (their
worker was killed -9 "on another host", so no rescuer may kill them) are listed in
`orphan_workers` and killed without failing the test. PostgreSQL unreachable fails, never skips.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pg_support import (
    PgQueuectl,
    PrivateCluster,
    kill_all,
    processes_of_workers,
)
from proc_support import force_stop_workers, kill_leftovers, reap_popens


def _new(tmp_path: Path, url: str) -> PgQueuectl:
    work = tmp_path / "work"
    work.mkdir()
    return PgQueuectl(tmp_path / "qhome", work, url)  # the home is created by the first command


def _reap(qc: PgQueuectl) -> list[str]:
    problems: list[str] = []
    try:
        live = qc.probe.value("SELECT count(*) FROM worker WHERE state IN ('running', 'stopping')")
    except Exception as exc:  # no schema (nothing ran) or no server
        live = 0 if "does not exist" in str(exc) else None
        if live is None:
            problems.append(f"cannot read the workers at teardown: {str(exc).strip()}")
    qc.close()
    if live:
        problems += force_stop_workers(qc.run)
    problems += reap_popens(qc.popens)
    # Orphans the test made on purpose: their "host" crashed, nobody else may kill them.
    if qc.orphan_workers:
        kill_all(processes_of_workers(qc.orphan_workers))
    # Exiting workers and their killed jobs may take a moment to disappear.
    problems += kill_leftovers(qc.home)
    return problems


@pytest.fixture
def pq(tmp_path: Path, pg_url: str):
    """queuectl on a fresh PostgreSQL database; at teardown no process of the test may be left."""
    qc = _new(tmp_path, pg_url)
    try:
        yield qc
    finally:
        leftovers = _reap(qc)
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"


@pytest.fixture
def private_pg():
    """A PostgreSQL server of this test alone (its own port and data directory), removed afterwards."""
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pq_private(tmp_path: Path, private_pg: PrivateCluster):
    """queuectl on a database of the private server (which the test may stop and start)."""
    url = private_pg.create_database(f"queuectl_{uuid.uuid4().hex[:8]}")
    qc = _new(tmp_path, url)
    try:
        yield qc
    finally:
        if not private_pg.running():  # the test failed while the server was down
            private_pg.start()
        leftovers = _reap(qc)
        assert not leftovers, f"processes left behind by the test (killed now): {leftovers}"
