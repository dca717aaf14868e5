"""A running job's output is saved as appended chunk rows (issue 13, item 7; m0006_run_chunks):
a save writes what is new, not the whole kept tail; reads join the chunks; a finish or a rescue
folds them into `run.output` and deletes them. On both stores (the `store` fixture)."""

from __future__ import annotations

from queuectl.core.records import RunStart
from queuectl.core.results import Completed
from queuectl.core.settings import Settings
from queuectl.core.specs import JobSpec


def _running(queue, job_id: str = "a", worker: str = "w1"):
    queue.enqueue([JobSpec(command="x", id=job_id)], Settings())
    job = queue.claim(worker)
    return job, queue.start_run(job, worker, RunStart("h", 1, 1.0, queue.clock.now()))


def _chunks(store, job_id: str = "a") -> list[tuple[int, bytes]]:
    rows = store.execute(store.sql("SELECT seq, data FROM run_chunk WHERE job_id = ? ORDER BY seq"), (job_id,))
    return [(seq, bytes(data)) for seq, data in rows.fetchall()]


def test_each_save_writes_only_the_new_bytes_and_reads_join_them(queue, store):
    job, run = _running(queue)
    printed = b""
    for i in range(5):
        new = b"line %d\n" % i
        printed += new
        queue.save_output("a", run, new, len(printed), "w1", keep=1_000_000)
        out = queue.output("a")
        assert out.output == printed and out.output_bytes == len(printed) and not out.finished
    assert [data for _, data in _chunks(store)] == [b"line %d\n" % i for i in range(5)], "a save rewrote old bytes"


def test_chunks_beyond_the_kept_tail_are_deleted_as_new_ones_come(queue, store, config):
    config.set("log_max_bytes", 1024)
    job, run = _running(queue)
    printed = b""
    for i in range(100):
        new = (b"%04d" % i) * 25  # 100 bytes
        printed += new
        queue.save_output("a", run, new, len(printed), "w1", keep=1024)
        assert sum(len(d) for _, d in _chunks(store)) <= 1024 + 100, "old chunks kept"
    assert queue.output("a").output == printed[-1024:]


def test_a_save_after_dropped_bytes_is_the_kept_tail_and_older_chunks_go(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"old\n", 4, "w1", keep=10)
    queue.save_output("a", run, b"0123456789", 50, "w1", keep=10)  # 46 printed, the runner kept 10
    assert _chunks(store) == [(50, b"0123456789")]
    assert queue.output("a").output.endswith(b"0123456789")


def test_a_save_of_the_whole_output_again_replaces_it(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"abc", 3, "w1")
    queue.save_output("a", run, b"abcdef", 6, "w1")  # from byte 0: it covers the earlier chunk
    assert queue.output("a").output == b"abcdef"


def test_the_finish_writes_the_tail_once_and_deletes_the_chunks(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"one\n", 4, "w1")
    queue.save_output("a", run, b"two\n", 8, "w1")
    queue.finish(job, "w1", run, Completed(), Settings(), output=b"one\ntwo\n", output_bytes=8)
    assert _chunks(store) == []
    out = queue.output("a")
    assert out.finished and out.output == b"one\ntwo\n"


def test_finish_and_claim_deletes_the_chunks_too(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"one\n", 4, "w1")
    queue.finish_and_claim(job, "w1", run, Completed(), Settings(), queues=None, output=b"one\n", output_bytes=4)
    assert _chunks(store) == []


def test_a_lost_workers_run_keeps_what_its_chunks_hold(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"one\n", 4, "w1")
    queue.save_output("a", run, b"two\n", 8, "w1")
    queue.fail_jobs_of_lost_worker("w1", Settings())
    assert _chunks(store) == []
    out = queue.output("a")
    assert out.finished and out.output == b"one\ntwo\n" and out.output_bytes == 8
    assert queue.runs("a")[0].error == "worker lost"


def test_saves_are_fenced_on_the_worker_and_the_open_run(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"mine\n", 5, "w2")  # not w2's run
    assert _chunks(store) == [] and queue.output("a").output_bytes == 0
    queue.fail_jobs_of_lost_worker("w1", Settings())
    queue.save_output("a", run, b"late\n", 5, "w1")  # the run was closed by the rescue
    assert _chunks(store) == [] and queue.output("a").output == b""


def test_deleting_a_job_deletes_its_chunks(queue, store):
    job, run = _running(queue)
    queue.save_output("a", run, b"one\n", 4, "w1")
    queue.fail_jobs_of_lost_worker("w1", Settings())  # only a job that is not running can be deleted
    store.execute(store.sql("INSERT INTO run_chunk (job_id, run_number, seq, data) VALUES ('a', 1, 9, ?)"), (b"x",))
    queue.delete(["a"])
    assert _chunks(store) == []
