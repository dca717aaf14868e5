"""What the CLI writes to a real terminal (a pty): the no-worker hint of `enqueue` and `wait` (issue 11
§3), and job-controlled text made safe in tables and `show` (issue 11 §1). The same commands piped, or
with --json, print neither the hint nor altered text.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios

import pytest

from proc_support import wait_until

NO_WORKER = "queuectl: no worker is running — start one with: queuectl worker start"
# A hostile job: clear the screen, move the cursor, retitle the window, write the clipboard, ring.
HOSTILE = "echo before; \x1b[2J\x1b[H\x1b[5;40HHIJACK\x1b]0;pwned-title\x07\x1b]52;c;ZXZpbA==\x07\x07\rafter"


def on_tty(*args: str, stdout_tty: bool = False, timeout: float = 30) -> tuple[int, str, str]:
    """Run queuectl with stderr (and stdout if asked) on a pty of 200×40; (exit code, what the terminal
    received, stdout when it is a pipe). The terminal's \\r\\n is read back as \\n."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "queuectl", *args], stdin=subprocess.DEVNULL,
                                stdout=slave if stdout_tty else subprocess.PIPE, stderr=slave,
                                env={**os.environ, "COLUMNS": "200", "LINES": "40"})
    finally:
        os.close(slave)
    received = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the slave is closed, the process is done writing
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout)
    return code, received.decode("utf-8", "replace").replace("\r\n", "\n"), out


@pytest.fixture
def ok(run):
    def _ok(*args: str):
        result = run(*args)
        assert result.code == 0, f"queuectl {' '.join(args)} -> {result.code}: {result.err}"
        return result

    return _ok


# ── the no-worker hint ──────────────────────────────────────────────────────────────────────


def test_enqueue_on_a_terminal_says_no_worker_is_running():
    code, terminal, out = on_tty("enqueue", "true")
    assert code == 0
    assert terminal == NO_WORKER + "\n"
    assert len(out.split()) == 1  # stdout still holds the id alone


def test_enqueue_piped_or_json_prints_no_hint(run):
    result = run("enqueue", "true")  # stderr captured: not a terminal
    assert result.code == 0 and result.err == ""
    proc = subprocess.run([sys.executable, "-m", "queuectl", "enqueue", "true"], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and proc.stderr == ""
    code, terminal, out = on_tty("enqueue", "--json", "true")
    assert code == 0 and terminal == "" and json.loads(out)["command"] == "true"


def test_wait_on_a_terminal_says_no_worker_is_running(ok):
    job_id = ok("enqueue", "true").out.strip()
    code, terminal, _ = on_tty("wait", job_id, "--timeout", "0.2")
    assert code == 124
    assert f"\r\x1b[Kwaiting for {job_id}: pending" in terminal  # the progress line, cleared at the end
    assert settled(terminal).splitlines() == [NO_WORKER, f"queuectl: error: timed out waiting for 1 job(s): {job_id}"]
    code, terminal, out = on_tty("wait", job_id, "--timeout", "0.2", "--json")
    assert code == 124 and NO_WORKER not in terminal and json.loads(out) == {job_id: "pending"}
    assert "\x1b[K" not in terminal


def settled(terminal: str) -> str:
    """What stays on the screen: a line rewritten in place (\r, erase line) leaves only its last version."""
    return re.sub(r"[^\n]*\r\x1b\[K", "", terminal)


def test_wait_on_a_terminal_names_the_job_and_its_retry(core):
    core.failed("f1")  # failed, its retry due in a while
    code, terminal, _ = on_tty("wait", "f1", "--timeout", "0.3")
    assert code == 124
    assert re.search(r"waiting for f1: failed, retry 2/4 in \d+ s", terminal), terminal


def test_wait_for_finished_jobs_gives_no_hint(core):
    core.completed("done-1")
    code, terminal, _ = on_tty("wait", "done-1")
    assert code == 0 and terminal == ""


def test_the_hint_names_an_unserved_queue_and_a_pause(ok, tmp_path):
    """A real worker that serves queue 'other' only: jobs of 'default' get the hint naming the queue;
    jobs of 'other' get none, unless the queue is paused."""
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "queuectl", "worker", "run", "-q", "other"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_until(lambda: [w for w in ok("worker", "list", "--json").json() if w["state"] == "running"],
                   timeout=20, message="the worker to register")
        code, terminal, _ = on_tty("enqueue", "--delay", "1h", "true")
        assert code == 0
        assert terminal == ("queuectl: no worker serves queue default — start one with: "
                            "queuectl worker start -q default\n")
        code, terminal, _ = on_tty("enqueue", "-q", "other", "--delay", "1h", "true")
        assert code == 0 and terminal == ""
        ok("pause")
        code, terminal, _ = on_tty("enqueue", "-q", "other", "--delay", "1h", "true")
        assert terminal == "queuectl: the queue is paused: nothing starts until queuectl resume\n"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(5)
            log.close()


# ── job-controlled text on a terminal ───────────────────────────────────────────────────────


def _hostile_dead_job(core) -> str:
    job_id = core.add(HOSTILE, id="evil-1", max_retries=0, cwd="/tmp/\x1b[2Jcwd", env={"\x1b]0;t\x07NAME": "v"})
    assert core.finish(job_id, 3, b"boom\n", error="bad \x1b]0;err-title\x07\x1b[31mred\x1b[0m\nsecond") == "dead"
    return job_id


@pytest.mark.parametrize("args", [["list"], ["show", "evil-1"], ["dlq", "list"], ["list", "-s", "dead"]])
def test_tables_and_show_on_a_terminal_carry_no_escape_sequence(core, args):
    _hostile_dead_job(core)
    code, terminal, _ = on_tty(*args, stdout_tty=True)
    assert code == 0, terminal
    assert "\x1b" not in terminal and "\x07" not in terminal, repr(terminal)  # NO_COLOR: no escape at all
    assert "echo before;" in terminal and "HIJACK" in terminal and "after" in terminal
    if args[0] == "show":
        assert "command     echo before; HIJACK after\n" in terminal
        assert "last error  bad red second\n" in terminal
        assert "cwd         /tmp/cwd\n" in terminal and "env         NAME\n" in terminal


def test_json_keeps_the_exact_text(ok, core):
    _hostile_dead_job(core)
    job = ok("show", "evil-1", "--json").json()
    assert job["command"] == HOSTILE
    assert job["last_error"] == "bad \x1b]0;err-title\x07\x1b[31mred\x1b[0m\nsecond"
    assert [j["command"] for j in ok("list", "--json").json()] == [HOSTILE]


def test_logs_prints_the_raw_bytes(run, core):
    core.add("true", id="raw-1")
    core.finish("raw-1", 0, b"\x1b[31mred\x1b[0m \x1b]0;t\x07\n")
    code, terminal, _ = on_tty("logs", "raw-1", stdout_tty=True)
    assert code == 0 and terminal == "\x1b[31mred\x1b[0m \x1b]0;t\x07\n"
