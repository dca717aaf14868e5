"""Helpers for the TUI tests: the seeded store (a job in every state, fake workers), the core on
a connection of its own, waits with deadlines for the app's thread workers, and process checks.

Nothing machine-specific may reach the screen: fixed ids, host "host-a", fixed pids, cwd "/srv/app".
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from textual.pilot import Pilot

from proc_support import alive, processes_of_home  # noqa: F401

# Outside the app (a worker's state, a process gone): the suites' one polling loop. Inside it, the
# async `wait_until` below lets the app run between polls.
from proc_support import wait_until as wait_for  # noqa: F401
from queuectl.core.clock import Clock, FrozenClock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store
from queuectl.core.queue import JobQueue
from queuectl.core.records import RunStart
from queuectl.core.registry import WorkerRegistry
from queuectl.core.results import exited
from queuectl.core.specs import JobSpec
from queuectl.core.store import open_store
from queuectl.tui.app import QueuectlApp
from queuectl.tui.widgets.keyed_table import KeyedTable

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the frozen "now" every seeded screen shows
CWD = "/srv/app"
HOST = "host-a"

W_BUSY = "w-a1b2c3d4"       # running, holds deploy-web
W_STOPPING = "w-e5f6a7b8"   # asked to stop
W_LOST = "w-0badc0de"       # silent for an hour: shown as lost

# Newest first, as the Jobs tab lists them.
SEEDED_JOBS = {
    "send-digest": "pending",
    "resize-images": "pending",
    "nightly-report": "failed",
    "deploy-web": "processing",
    "import-feed": "dead",
    "cleanup-tmp": "cancelled",
    "flaky-sync": "dead",
    "backup-db": "completed",
}

BACKUP_OUTPUT = b"dumping schema public\ndumped 12 tables (48,213 rows)\nwrote /srv/backup/app.sql (3.1 MiB)\n"
FLAKY_OUTPUT = (
    b"sending incremental file list\n"
    b"rsync: [sender] failed to connect to mirror-2 (10.0.0.7): Connection refused (111)\n"
    b"rsync error: error in socket IO (code 10) at clientserver.c(139) [sender=3.2.7]\n"
)


@dataclass
class Core:
    """The core on a connection of its own: how a test sets up and checks the store behind the app."""

    store: Store
    queue: JobQueue
    config: ConfigStore
    registry: WorkerRegistry

    def state(self, job_id: str) -> str:
        return self.queue.get(job_id).state

    def job_ids(self) -> set[str]:
        return {j.id for j in self.queue.list_jobs(limit=1000)}


def open_core(url: str, clock: Clock) -> Iterator[Core]:
    store = open_store(url)
    try:
        yield Core(store, JobQueue(store, clock), ConfigStore(store), WorkerRegistry(store, clock))
    finally:
        store.close()



# ── the seeded store ────────────────────────────────────────────────────────────────────────


def seed(core: Core, clock: FrozenClock) -> None:
    """A job in every state, two of them dead, fake workers (running, stopping, lost) and one
    overridden setting, all at fixed times before T0; the clock is left at T0."""
    q, reg, config = core.queue, core.registry, core.config
    config.set("backoff_base", "10")  # the overridden setting; a failed job is due 10 s after it failed

    def at(offset: float) -> None:
        clock.set(T0 + offset)

    def run_and_finish(job_id: str, worker: str, pid: int, took: float, exit_code: int, output: bytes,
                       queues: list[str] | None = None) -> None:
        claimed = q.claim(worker, queues)
        assert claimed is not None and claimed.id == job_id, (job_id, claimed)
        start = RunStart(HOST, pid, None, clock.now())
        clock.advance(took)
        error = None if exit_code == 0 else f"exit code {exit_code}"
        if exit_code == 127:
            error = "exit code 127 (command not found?)"
        q.finish(claimed, worker, start, exited(exit_code, error), config.settings(), output=output,
                 output_bytes=len(output))

    at(-3600)
    reg.register(W_LOST, HOST, 4243, 1.0, None, None)
    at(-900)
    reg.register(W_BUSY, HOST, 4242, 2.0, None, None)
    reg.register(W_STOPPING, HOST, 4244, 3.0, ["default", "reports"], None)

    at(-600)
    q.enqueue([JobSpec("pg_dump app > /srv/backup/app.sql", id="backup-db", cwd=CWD)], config.settings())
    at(-590)
    run_and_finish("backup-db", W_BUSY, 5101, 12.4, 0, BACKUP_OUTPUT)

    at(-500)
    q.enqueue([JobSpec("rsync -a mirror-2::data /srv/data", id="flaky-sync", max_retries=1, cwd=CWD)],
              config.settings())
    at(-499)
    run_and_finish("flaky-sync", W_BUSY, 5102, 2.1, 10, FLAKY_OUTPUT.split(b"rsync error")[0])
    at(-480)
    run_and_finish("flaky-sync", W_BUSY, 5103, 1.8, 10, FLAKY_OUTPUT)

    at(-400)
    q.enqueue([JobSpec("find /srv/tmp -mtime +7 -delete", id="cleanup-tmp", cwd=CWD)], config.settings())
    at(-395)
    q.cancel(["cleanup-tmp"])

    at(-300)
    q.enqueue([JobSpec("./bin/import-feed --since yesterday", id="import-feed", max_retries=0, cwd=CWD)],
              config.settings())
    at(-299)
    run_and_finish("import-feed", W_BUSY, 5104, 0.02, 127, b"sh: 1: ./bin/import-feed: not found\n")

    at(-120)
    q.enqueue([JobSpec("make deploy ENV=staging", id="deploy-web", priority=10, cwd=CWD, timeout=1800)],
              config.settings())
    at(-118)
    claimed = q.claim(W_BUSY)
    assert claimed is not None and claimed.id == "deploy-web"
    number = q.start_run(claimed, W_BUSY, RunStart(HOST, 5150, 1.0, clock.now()))
    progress = b"building web image\nstep 3/7: installing dependencies\n"
    q.save_output("deploy-web", number, progress, len(progress), W_BUSY)

    at(-60)
    q.enqueue([JobSpec("python -m reports.nightly", id="nightly-report", queue="reports", cwd=CWD)],
              config.settings())
    at(-8)
    run_and_finish("nightly-report", W_STOPPING, 5201, 3.0, 1,
                   b"Traceback (most recent call last):\nKeyError: 'region'\n",
                   queues=["default", "reports"])

    at(-3)
    q.enqueue([JobSpec("convert-batch --size 800x600 /srv/media/incoming", id="resize-images", priority=5,
                       queue="media", cwd=CWD)], config.settings())
    at(-2)
    q.enqueue([JobSpec("send-digest --list weekly", id="send-digest", run_at=T0 + 300, cwd=CWD)],
              config.settings())

    at(0)
    reg.heartbeat(W_BUSY)
    reg.heartbeat(W_STOPPING)
    reg.request_stop([W_STOPPING])


# ── waiting and selecting ──────────────────────────────────────────────────────────────────


async def wait_until(pilot: Pilot, pred: Callable[[], Any], timeout: float = 15.0, message: str = "") -> Any:
    """Let the app run until `pred()` is truthy (and return it); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message or pred} (last: {result!r})")
        await pilot.pause(0.05)


async def loaded(pilot: Pilot) -> QueuectlApp:
    """Wait for the first snapshot to be on screen."""
    app = pilot.app
    assert isinstance(app, QueuectlApp)
    await wait_until(pilot, lambda: app.snapshot is not None, message="the first snapshot")
    await pilot.pause()
    return app


async def refreshed(pilot: Pilot) -> QueuectlApp:
    """Poll now and wait until the new snapshot is applied."""
    app = pilot.app
    assert isinstance(app, QueuectlApp)
    before = app.snapshot
    app.poll()
    await wait_until(pilot, lambda: app.snapshot is not before, message="a new snapshot")
    await pilot.pause()
    return app


async def start_one_worker(pilot: Pilot, app: QueuectlApp, core: Core) -> list:
    """Start one worker the way a user does (F3, +, 1, Enter); returns the live workers once it runs."""
    from queuectl.tui.screens.prompt import PromptScreen

    await pilot.press("f3")
    await wait_until(pilot, lambda: app.pane == "workers")
    await pilot.press("plus")
    await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen))
    await pilot.press("ctrl+u", "1", "enter")
    return await wait_until(pilot, core.registry.live, timeout=20, message="a live worker")


def table(app: QueuectlApp, pane: str) -> KeyedTable:
    return app.screen_stack[0].query_one(f"#{pane}-table", KeyedTable)


def row_keys(app: QueuectlApp, pane: str) -> list[str]:
    return [str(row.key.value) for row in table(app, pane).ordered_rows]


def select(app: QueuectlApp, pane: str, key: str) -> None:
    """Put the cursor of a pane's table on the row with `key`."""
    t = table(app, pane)
    t.move_cursor(row=t.get_row_index(key))
    assert t.selected_key == key


def shown_text(widget: Any) -> str:
    """The text a Static or Label puts on screen (after any markup was applied)."""
    visual = widget.visual
    return getattr(visual, "plain", str(visual))


def screen_text(app: QueuectlApp) -> list[str]:
    """The screen as plain text lines, read from the same SVG a snapshot would store."""
    svg = app.export_screenshot()
    rows: dict[float, dict[int, str]] = {}
    for x, y, length, text in re.findall(
        r'<text class="terminal-[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)"[^>]*>([^<]*)</text>', svg
    ):
        text = html.unescape(text).replace("\xa0", " ")
        cell = float(length) / max(len(text), 1)
        column = round(float(x) / cell)
        row = rows.setdefault(float(y), {})
        for i, char in enumerate(text):
            row[column + i] = char
    lines = []
    for _, cells in sorted(rows.items()):
        lines.append("".join(cells.get(i, " ") for i in range(max(cells) + 1)).rstrip())
    return lines


# ── job output that tries to take over the terminal ────────────────────────────────────────

TITLE_PAYLOAD = b"pwned-title"
CLIPBOARD_PAYLOAD = b"cHduZWQtY2xpcGJvYXJk"  # base64 of "pwned-clipboard"
LONG_LINE = 10_000

# Every kind of escape or control a job can print, with ordinary colours, a progress bar, invalid
# UTF-8, tabs and a 10,000-character line. `queuectl logs` would print it raw; the TUI must not.
HOSTILE_OUTPUT = (
    b"before\n"
    b"\x1b[2J\x1b[H"                                   # clear the screen, cursor home
    b"\x1b[5;40HHIJACK\n"                              # cursor to row 5, column 40
    b"\x1b]0;" + TITLE_PAYLOAD + b"\x07"               # OSC 0: set the window title
    b"\x1b]52;c;" + CLIPBOARD_PAYLOAD + b"\x07"        # OSC 52: write the clipboard
    b"\x1bPdcs-payload\x1b\\\x1b_apc-payload\x1b\\\x1b^pm-payload\x1b\\\x1bXsos-payload\x1b\\"
    b"bell\x07 back\x08space c1[\xc2\x85\xc2\x90q\xc2\x9c]\n"   # BEL, BS, C1 NEL, C1 DCS … ST
    b"\x1b[31mred\x1b[0m plain \x1b[1;32mbold green\x1b[0m \x1b[44mon blue\x1b[49m after \x1b[7mreverse\x1b[m\n"
    b"progress  10%\rprogress  50%\rprogress 100%\n"
    b"bad utf-8: \xff\xfe end\n"
    b"tab\tseparated\tcolumns\n"
    b"long:" + b"x" * LONG_LINE + b"\n"
    b"after\n"
)
HOSTILE_LINES = [
    "before",
    "HIJACK",
    "bell backspace c1[]",
    "red plain bold green on blue after reverse",
    "progress 100%",
    "bad utf-8: \ufffd\ufffd end",
    "tab     separated       columns",
    "long:" + "x" * LONG_LINE,
    "after",
]


def add_finished_job(core: Core, clock: FrozenClock, job_id: str, command: str, output: bytes, *,
                     exit_code: int = 0, worker: str = W_BUSY) -> None:
    """A job that ran (on a fake worker, frozen clock) and printed `output`; claimed ahead of the
    seeded pending jobs by its priority."""
    q, config = core.queue, core.config
    q.enqueue([JobSpec(command, id=job_id, priority=100, cwd=CWD)], config.settings())
    claimed = q.claim(worker)
    assert claimed is not None and claimed.id == job_id, claimed
    start = RunStart(HOST, 5300, None, clock.now())
    q.finish(claimed, worker, start, exited(exit_code, None if exit_code == 0 else f"exit code {exit_code}"),
             config.settings(), output=output, output_bytes=len(output))
