"""A running job's output, saved as it prints (issue 13, item 7), with real workers on both stores.

Each heartbeat saves only what the job printed since the last one, as a `run_chunk` row
(m0006_run_chunks): before, the whole kept tail was written again at every heartbeat (a 1 GiB
tail: a 1 GB WAL, 90 % of a core). `logs -f`, `logs` and the TUI's detail see the output grow; at
the end the tail is in `run.output` and the chunks are gone, also when the worker was lost.
"""

from __future__ import annotations

import subprocess

from reliability_support import RQueuectl, wait_until

LINES = 60
STEADY = f"i=0; while [ $i -lt {LINES} ]; do printf 'line %03d of a steady job\\n' $i; i=$((i+1)); sleep 0.05; done"
PRINTED = b"".join(b"line %03d of a steady job\n" % i for i in range(LINES))


def _chunks(q: RQueuectl, job: str) -> tuple[int, int]:
    """(rows, bytes) of the job's chunks."""
    rows, size = q.sql("SELECT count(*), coalesce(sum(length(data)), 0) FROM run_chunk WHERE job_id = ?", (job,))[0]
    return int(rows), int(size)


def _worker(q: RQueuectl):
    q.configure(poll_interval=0.05)
    w = q.spawn_worker()
    q.wait_registered([w])
    return w


def test_a_steady_jobs_output_grows_everywhere_and_each_save_writes_only_new_bytes(q: RQueuectl):
    from queuectl.core.api import Api
    from queuectl.tui.service import QueueService

    _worker(q)
    # The job prints its lines in three parts and waits for the test between them: each view must
    # see each part while the job runs. A job that merely ran for 3 s finished within two `logs`
    # calls on a loaded machine (a CLI start there takes 1-2 s), and no view saw it grow.
    gates = [q.work / "part1-seen", q.work / "part2-seen"]
    third = LINES // 3
    parts = [f"i={a}; while [ $i -lt {b} ]; do printf 'line %03d of a steady job\\n' $i; i=$((i+1)); sleep 0.05; done"
             for a, b in ((0, third), (third, 2 * third), (2 * third, LINES))]
    command = "; ".join([parts[0], f"while [ ! -e {gates[0]} ]; do sleep 0.02; done", parts[1],
                         f"while [ ! -e {gates[1]} ]; do sleep 0.02; done", parts[2]])
    job = q.enqueue_many([{"id": "steady", "command": command}])[0]
    follow = q.popen("logs", "-f", job, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        q.wait_running(job)
        service = QueueService(Api(q.store()), process_stats=False)
        seen_logs: set[int] = set()
        seen_detail: set[int] = set()
        seen_chunks: set[int] = set()

        def look() -> bool:
            """Read every view once; True when the job ended."""
            if q.state(job) != "processing":
                return True
            seen_logs.add(len(q.run("logs", job).stdout))
            detail = service.detail(job)
            if detail.output is not None and not detail.output.finished:
                seen_detail.add(len(detail.output.output))
                assert PRINTED.startswith(detail.output.output), detail.output.output[-200:]
            # one statement, one snapshot: the saves so far hold each byte printed once (none
            # wrote the earlier output again)
            finished, output_bytes, rows, size = q.sql(
                "SELECT finished_at, output_bytes, (SELECT count(*) FROM run_chunk c WHERE c.job_id = run.job_id), "
                "(SELECT coalesce(sum(length(data)), 0) FROM run_chunk c WHERE c.job_id = run.job_id) "
                "FROM run WHERE job_id = ?", (job,))[0]
            assert finished is not None or int(size) == output_bytes, (rows, size, output_bytes)
            if rows:
                seen_chunks.add(rows)
            return False

        for number, gate in enumerate(gates, 1):
            upto = len(PRINTED.splitlines(keepends=True)[0]) * third * number

            def part_seen(upto: int = upto) -> bool:
                assert not look(), "the job ended before the test let it go on"
                return upto in seen_logs and upto in seen_detail

            wait_until(part_seen, timeout=30, interval=0.1, message=f"part {number} in `logs` and the detail")
            gate.touch()
        wait_until(look, timeout=30, interval=0.1, message="the job to end")
        assert len([n for n in seen_logs if n]) >= 2, f"`logs` never saw the output grow: {seen_logs}"
        assert len([n for n in seen_detail if n]) >= 2, f"the TUI's detail never saw it grow: {seen_detail}"
        assert max(seen_chunks, default=0) >= 2, f"the output was not saved in chunks: {seen_chunks}"
        out, err = follow.communicate(timeout=20)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert out.encode() == PRINTED, out[-300:]
    assert q.wait_state(job, "completed").state == "completed"
    assert q.run("logs", job).stdout.encode() == PRINTED
    assert _chunks(q, job) == (0, 0), "the finish left chunks behind"


def test_chunk_bytes_are_the_new_bytes_of_each_save(q: RQueuectl):
    """At every moment the chunks hold each printed byte once: their total is the run's byte count."""
    q.configure(log_max_bytes=50_000_000)
    _worker(q)
    job = q.enqueue_many([{"id": "steady", "command": STEADY + "; sleep 30"}])[0]
    q.wait_running(job)
    wait_until(lambda: q.sql("SELECT output_bytes FROM run WHERE job_id = ?", (job,))[0][0] == len(PRINTED),
               timeout=30, message="the whole output saved")
    rows, size = _chunks(q, job)
    assert size == len(PRINTED) and rows >= 2, (rows, size)
    assert q.run("logs", job).stdout.encode() == PRINTED


def test_a_running_jobs_chunks_stay_within_the_kept_tail(q: RQueuectl):
    q.configure(log_max_bytes=1024)
    _worker(q)
    job = q.enqueue_many([{"id": "steady", "command": STEADY}])[0]
    q.wait_running(job)
    largest = 0

    def ended() -> bool:
        nonlocal largest
        rows = q.sql("SELECT length(data) FROM run_chunk WHERE job_id = ?", (job,))
        sizes = [int(r[0]) for r in rows]
        largest = max([largest, *sizes])
        assert sum(sizes) <= 1024 + largest, f"chunks beyond the kept tail: {sizes}"
        logs = q.run("logs", job).stdout.encode()
        assert len(logs) <= 1024 and PRINTED.find(logs) >= 0, logs
        return q.state(job) != "processing"

    wait_until(ended, timeout=30, interval=0.1, message="the job to end")
    assert q.wait_state(job, "completed").state == "completed"
    assert q.run("logs", job).stdout.encode() == PRINTED[-1024:]
    assert _chunks(q, job) == (0, 0)


def test_a_lost_workers_run_keeps_what_was_saved_and_no_chunks(q: RQueuectl):
    w = _worker(q)
    job = q.enqueue_many([{"id": "steady", "command": STEADY + "; sleep 300", "max_retries": 2}])[0]
    q.wait_running(job)
    wait_until(lambda: _chunks(q, job)[0] >= 2, timeout=30, message="a few saves")
    q.kill9(w)
    q.run("status")  # a reading command finds the dead worker and rescues its job
    done = q.wait_state(job, "failed")
    assert done.last_error == "worker lost", done
    output, output_bytes = q.sql("SELECT output, output_bytes FROM run WHERE job_id = ?", (job,))[0]
    assert output_bytes > 0 and bytes(output) == PRINTED[:output_bytes], (output_bytes, output)
    assert q.run("logs", job).stdout.encode() == PRINTED[:output_bytes]
    assert _chunks(q, job) == (0, 0), "the rescue left chunks behind"
