"""A job is never run by two workers at once, even when the store forgets a claim or a holder
freezes or is cut off from the store (issue 13, items 1, 2 and 12).

- Lost claim: the job row is rewritten behind the worker's back, as a server crash that lost an
  asynchronous commit or a failover to a replica that lacked it would leave it. The worker's
  next heartbeat sees it no longer holds the run and kills it at once, saying why.
- Frozen holder: SIGSTOP of the worker holding a job, on another (simulated) host than the
  rescuer. The watchdog, which the SIGSTOP does not freeze, kills the job when no heartbeat has
  reached the store for worker_timeout / 2, before the rescuer may retry it at worker_timeout.
- Cut-off holder (PostgreSQL): a TCP proxy written here black-holes the holder's link. The
  worker's store calls give up in time (client deadline, statement/lock timeouts) and the worker
  kills its job after worker_timeout / 2; it answers SIGTERM during the outage.

Each job writes its own start, ticks and end into a file; the intervals of its attempts must
not overlap. The overlap found (seconds) is printed with `-s`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from reliability_support import RQueuectl, alive, group_members, wait_until

HEARTBEAT = 0.5  # queuectl.core.worker.HEARTBEAT_INTERVAL
WORKER_TIMEOUT = 2.0  # the smallest allowed: fencing after 1 s, recovery after 2 s

# Attempt 1 ticks until it is killed (at most 30 s); later attempts tick a few times and end.
TICKING_JOB = (
    'f={marks}/"$QUEUECTL_JOB_ID"; a=$QUEUECTL_ATTEMPT; echo "$a start $(date +%s.%N)" >> "$f"; '
    'n=0; if [ "$a" = 1 ]; then limit=600; else limit=4; fi; '
    'while [ $n -lt $limit ]; do echo "$a tick $(date +%s.%N)" >> "$f"; sleep 0.05; n=$((n+1)); done; '
    'echo "$a end $(date +%s.%N)" >> "$f"'
)


def _intervals(path: Path) -> dict[int, tuple[float, float]]:
    """Attempt -> (first line, last line) as the job itself recorded them."""
    spans: dict[int, tuple[float, float]] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        attempt, when = int(parts[0]), float(parts[2])
        first, last = spans.get(attempt, (when, when))
        spans[attempt] = (min(first, when), max(last, when))
    return spans


def _overlap(spans: dict[int, tuple[float, float]]) -> float:
    """The longest time two attempts ran together (0 when none did)."""
    worst = 0.0
    items = sorted(spans.values())
    for i, (s1, e1) in enumerate(items):
        for s2, e2 in items[i + 1:]:
            worst = max(worst, min(e1, e2) - max(s1, s2))
    return worst


def _first_run_pid(q: RQueuectl, job_id: str) -> int:
    run = q.wait_running(job_id)
    assert run.pid
    return run.pid


def _write(q: RQueuectl, sql: str, params: tuple) -> None:
    """A write behind the workers' back, through the core's plain store connection."""
    store = q.store()
    with store.write():
        store.execute(store.sql(sql), params)


# ── item 1: a lost claim ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("store_now", ["pending", "another worker's"])
def test_a_run_whose_claim_the_store_lost_is_killed_at_the_next_heartbeat(q, store_now):
    q.configure(poll_interval=0.05)
    w = q.spawn_worker()
    q.wait_registered([w])
    q.pause()  # the rewritten job must not simply be claimed again by the same worker
    q.pause(False)
    job = q.enqueue_many([{"id": "lost-claim", "command": "sleep 60", "max_retries": 3}])[0]
    pid = _first_run_pid(q, job)
    q.pause()
    if store_now == "pending":  # as a server crash that lost the claim's commit leaves it
        _write(q, "UPDATE job SET state = 'pending', worker_id = NULL, attempts = 0 WHERE id = ?", (job,))
    else:  # … and after another worker claimed it again
        _write(q, "UPDATE job SET worker_id = 'w-someone-else' WHERE id = ?", (job,))
    rewritten = time.monotonic()
    wait_until(lambda: not alive(pid) and not group_members(pid), timeout=2 * HEARTBEAT + 1.5,
               message="the run the worker no longer holds to be killed")
    print(f"\nlost claim ({store_now}, {'sqlite' if q.is_sqlite else 'postgresql'}): killed "
          f"{time.monotonic() - rewritten:.2f}s after the store forgot it")
    log = wait_until(lambda: (text := w.log.read_text()) and "no longer this worker's" in text and text,
                     timeout=5, message="the worker to log why")
    assert f"job {job} attempt 1 is no longer this worker's" in log, log
    assert "recovered by another worker" not in log, log
    assert w.proc.poll() is None, "the worker itself carries on"


# ── item 2: a frozen holder, across hosts ────────────────────────────────────────────────────


def _holder_and_rescuer(q: RQueuectl, holder_env: dict[str, str]) -> tuple:
    q.configure(poll_interval=0.05, backoff_base=1, backoff_max=0, worker_timeout=WORKER_TIMEOUT)
    marks = q.work / "marks"
    marks.mkdir(exist_ok=True)
    holder = q.spawn_worker(env={"QUEUECTL_HOST_ID": "host-a", **holder_env})
    q.wait_registered([holder])
    job = q.enqueue_many([{"id": "held", "command": TICKING_JOB.format(marks=marks), "max_retries": 3}])[0]
    run = q.wait_running(job)
    assert run.worker_id == holder.id
    rescuer = q.spawn_worker(env={"QUEUECTL_HOST_ID": "host-b"})
    q.wait_registered([rescuer])
    wait_until(lambda: len(_intervals(marks / job).get(1, (0, 0))) and (marks / job).stat().st_size > 200,
               timeout=10, message="the first attempt to tick")
    return holder, rescuer, job, run, marks / job


def test_a_frozen_holder_fences_itself_before_another_host_retries_its_job(q):
    holder, rescuer, job, run, marks = _holder_and_rescuer(q, {})
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: q.state(job) == "completed", timeout=20, message="the retry on the other host to complete")
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    spans = _intervals(marks)
    overlap = _overlap(spans)
    print(f"\nfrozen holder ({'sqlite' if q.is_sqlite else 'postgresql'}): attempts {spans}; overlap {overlap:.2f}s")
    first, second = q.runs(job)[:2]
    assert second.worker_id == rescuer.id and second.exit_code == 0
    assert overlap <= 0, f"the frozen holder's run went on {overlap:.2f}s into its retry"
    assert not alive(run.pid)
    # resumed, the holder learns it was declared lost and exits
    wait_until(lambda: holder.proc.poll() is not None, timeout=10, message="the resumed holder to exit")


# ── item 2: a holder cut off from PostgreSQL ─────────────────────────────────────────────────


class BlackHoleProxy:
    """A TCP proxy on loopback to the PostgreSQL server; `cut()` black-holes every connection
    through it (bytes read and dropped both ways, new connections accepted and never answered),
    as a partition looks to a client whose packets are still acknowledged; `heal()` ends that."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.cut_now = False
        self.loop = asyncio.new_event_loop()
        self.writers: list[asyncio.StreamWriter] = []
        ready = threading.Event()

        async def start() -> None:
            self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.thread = threading.Thread(target=self._run, args=(start,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, start) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        if self.cut_now:
            await self._drain(reader)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers.append(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        for w in (writer, up_writer):
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if not self.cut_now:
                writer.write(data)
                await writer.drain()

    @staticmethod
    async def _drain(reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    def cut(self) -> None:
        self.cut_now = True

    def heal(self) -> None:
        """Connections that lived through the cut lost bytes: close them; new ones pass again."""
        def close_all() -> None:
            for w in self.writers:
                w.close()
            self.writers.clear()
            self.cut_now = False

        self.loop.call_soon_threadsafe(close_all)

    def close(self) -> None:
        def stop() -> None:
            for w in self.writers:
                w.close()
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)


@pytest.mark.backends("postgresql")
def test_a_holder_cut_off_from_the_store_fences_itself_and_answers_sigterm(q):
    proxy = BlackHoleProxy()
    try:
        scheme, rest = q.store_url.split("://", 1)
        creds, _, hostpart = rest.partition("@")
        host, _, database = hostpart.partition("/")
        via_proxy = f"{scheme}://{creds}@127.0.0.1:{proxy.port}/{database}"
        holder, rescuer, job, run, marks = _holder_and_rescuer(q, {"QUEUECTL_DB": via_proxy})
        proxy.cut()
        wait_until(lambda: q.state(job) == "completed", timeout=20, message="the retry on the other host to complete")
        spans = _intervals(marks)
        overlap = _overlap(spans)
        print(f"\ncut-off holder (postgresql): attempts {spans}; overlap {overlap:.2f}s")
        first, second = q.runs(job)[:2]
        assert second.worker_id == rescuer.id and second.exit_code == 0
        assert overlap <= 0, f"the cut-off holder's run went on {overlap:.2f}s into its retry"
        assert not alive(run.pid)
        # the outage goes on: a SIGTERM still stops the holder (no call blocks for ever)
        holder.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: holder.proc.poll() is not None, timeout=10, message="the cut-off holder to obey SIGTERM")
        log = holder.log.read_text()
        assert "no heartbeat reached the store" in log, log
        assert "Traceback" not in log and "internal error" not in log, log
    finally:
        proxy.heal()
        proxy.close()


# ── item 12: a worker id already in use ──────────────────────────────────────────────────────


def test_a_worker_id_in_use_by_a_live_worker_is_refused_at_once(q):
    q.configure(poll_interval=0.05)
    w = q.spawn_worker()
    q.wait_registered([w])
    job = q.enqueue_many([{"id": "busy", "command": "sleep 30"}])[0]
    run = q.wait_running(job)
    result = q.run("worker", "run", "--worker-id", w.id, check=False, timeout=20)
    assert result.returncode == 1, result
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1 and f"worker id {w.id} is in use" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    time.sleep(1.0)  # a watchdog of the refused process would have killed it by now
    assert alive(run.pid) and q.state(job) == "processing", "the healthy worker's job must go on"
