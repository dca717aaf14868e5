"""Two stores open in one process: each JobQueue reads its own.

The Peewee models were once bound process-wide (a DatabaseProxy that every JobQueue initialised),
so after `JobQueue(b)` the reads of `JobQueue(a)` went to store b. Nothing in the CLI or the TUI
opens two stores, which is why nobody saw it; a tool or a test that does would have.
"""

from __future__ import annotations

import pytest

from queuectl.core.errors import JobNotFound
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.results import Completed
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store

S = Settings()


@pytest.fixture(params=["sqlite", "postgresql"])
def two_stores(request, tmp_path):
    """Store a (a SQLite file) and store b: another SQLite file, or a PostgreSQL database."""
    second = f"sqlite:///{tmp_path / 'b.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    a = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    b = open_store(second)
    yield a, b
    a.close()
    b.close()


def _one_finished_job(queue: JobQueue, job_id: str, output: bytes) -> None:
    queue.enqueue([JobSpec(command=f"echo {job_id}", id=job_id, queue=job_id)], S)
    job = queue.claim("w-" + job_id)
    assert job is not None and job.id == job_id
    queue.finish(job, "w-" + job_id, RunStart("h", 1, None, 0.0), Completed(), S, output=output,
                 output_bytes=len(output))


def test_each_queue_reads_its_own_store(two_stores):
    a, b = two_stores
    qa = JobQueue(a)
    _one_finished_job(qa, "only-in-a", b"from a\n")
    qb = JobQueue(b)  # opened last: a process-wide binding would now point at b
    _one_finished_job(qb, "only-in-b", b"from b\n")

    for queue, mine, other, output in ((qa, "only-in-a", "only-in-b", b"from a\n"),
                                       (qb, "only-in-b", "only-in-a", b"from b\n")):
        assert queue.get(mine).state == "completed"
        with pytest.raises(JobNotFound):
            queue.get(other)
        assert [j.id for j in queue.list_jobs()] == [mine]
        assert [j.id for j in queue.list_jobs(search="only")] == [mine]
        assert [j.id for j in queue.iter_jobs()] == [mine]
        assert [j.id for j in queue.get_many([mine, other])] == [mine]
        assert queue.count_jobs(queue=mine) == 1 and queue.count_jobs(queue=other) == 0
        assert [(r.job_id, r.worker_id) for r in queue.runs(mine)] == [(mine, "w-" + mine)]
        assert queue.runs(other) == []
        assert queue.output(mine).output == output
