"""Polling and process inspection shared by the suites that start real processes
(e2e, postgres, reliability, tui). pytest's `pythonpath` (pyproject.toml) puts this folder on sys.path."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil


def wait_until(pred: Callable[[], Any], timeout: float = 15, interval: float = 0.05, message: str = "") -> Any:
    """Call `pred` until it returns something truthy (returned) or `timeout` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message or pred} (last: {last!r})")
        time.sleep(interval)


def one_line_error(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """Assert `result` failed with `code` and exactly one `queuectl: error:` line on stderr (no
    traceback, no internal error, no blank line around it); return that line."""
    err = result.stderr
    assert result.returncode == code, f"exit {result.returncode}, expected {code}; stderr {err!r}"
    assert "Traceback" not in err and "Traceback" not in result.stdout and 'File "' not in err, err
    assert "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {err!r}"
    assert lines[0].startswith("queuectl: error: "), lines[0]
    return lines[0]


def ts(iso_text: str | None) -> float | None:
    """ISO-8601 (as printed by --json) → epoch seconds."""
    if iso_text is None:
        return None
    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


# ── processes ───────────────────────────────────────────────────────────────────────────────


def alive(pid: int | None) -> bool:
    """True if `pid` is a running (non-zombie) process."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes in process group `pgid`."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getpgid(proc.pid) == pgid:
                found.append(proc)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return found


def processes_where(pred: Callable[[dict[str, str], list[str]], bool]) -> list[psutil.Process]:
    """Live processes (not this one) for which pred(environ, cmdline) is true."""
    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.pid == me:
            continue
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if pred(proc.environ(), proc.cmdline()):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def processes_of_home(home: Path) -> list[psutil.Process]:
    """Live processes whose environment or command line names this QUEUECTL_HOME."""
    text = str(home)
    return processes_where(
        lambda env, argv: env.get("QUEUECTL_HOME") == text
        or any(a == text or a.startswith(text + os.sep) for a in argv)
    )


def processes_of_workers(worker_ids: Iterable[str]) -> list[psutil.Process]:
    """Live job processes started by these workers (they carry QUEUECTL_WORKER_ID), wherever they went."""
    ids = set(worker_ids)
    return processes_where(lambda env, argv: env.get("QUEUECTL_WORKER_ID") in ids)


def kill_all(procs: Sequence[psutil.Process]) -> None:
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(list(procs), timeout=5)


def describe(procs: Iterable[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())}")
        except psutil.Error:
            out.append(f"{p.pid} (gone)")
    return out


# ── teardown: every suite's reaper is made of these ──────────────────────────────────────────


def force_stop_workers(run: Callable[..., Any]) -> list[str]:
    """`queuectl worker stop --force --wait` through the suite's CLI runner; problems as text."""
    import subprocess

    try:
        stop = run("worker", "stop", "--force", "--wait", "--timeout", "5", check=False, timeout=30)
    except subprocess.TimeoutExpired:
        return ["worker stop --force --wait hung"]
    if stop.returncode != 0:
        return [f"worker stop --force --wait failed ({stop.returncode}): {stop.stderr.strip()}"]
    return []


def reap_popens(popens: Iterable[Any], what: str = "foreground process") -> list[str]:
    """Wait for (or kill) processes the test started itself and close their pipes."""
    import subprocess

    problems = []
    for proc in popens:
        if proc.poll() is None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"{what} {proc.args} still running after the stop")
                proc.kill()
                proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                stream.close()
    return problems


def kill_leftovers(home: Path, settle: float = 5.0) -> list[str]:
    """Processes still naming this QUEUECTL_HOME after `settle` seconds: described, then killed."""
    deadline = time.monotonic() + settle
    while True:
        left = processes_of_home(home)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = describe(left)
    kill_all(left)
    return problems
