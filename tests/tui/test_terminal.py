"""`queuectl tui` in a real pseudo-terminal: what the app writes to the terminal, byte for byte.

A job's OSC title, OSC 52 clipboard write, DCS/APC/PM/SOS strings and bell must never reach the
user's terminal, whatever the job printed.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from tui_support import CLIPBOARD_PAYLOAD, HOSTILE_OUTPUT, TITLE_PAYLOAD, add_finished_job


class Terminal:
    """A child process on a pty of a fixed size; everything it writes is kept in `screen_bytes`."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (80, 24)) -> None:
        self.master, slave = os.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                                     close_fds=True)
        os.close(slave)
        self.screen_bytes = b""

    def read_until(self, needle: bytes, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.screen_bytes:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared; last output: {self.screen_bytes[-400:]!r}")
            self.read(0.1)

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.screen_bytes += os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    return

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        os.close(self.master)


def test_hostile_output_never_reaches_the_terminal(seeded, clock, store_url, home):
    add_finished_job(seeded, clock, "hostile", "sh ./hostile.sh", HOSTILE_OUTPUT)
    env = dict(os.environ, QUEUECTL_DB=store_url, QUEUECTL_HOME=str(home), TERM="xterm-256color", COLORTERM="truecolor")
    term = Terminal([sys.executable, "-m", "queuectl", "tui"], env)
    try:
        term.read_until(b"hostile")              # the Jobs tab, the newest job selected
        deadline = time.monotonic() + 20
        while b"HIJACK" not in term.screen_bytes:  # Enter until the detail view shows the output
            assert time.monotonic() < deadline, f"no detail view: {term.screen_bytes[-400:]!r}"
            term.press(b"\r")
            term.read(1.0)
        term.read(1.5)                           # a few refreshes of the detail view
        term.press(b"w")                         # wrapped, the long line is drawn again, in full
        term.read(1.0)
        term.press(b"\x1b")
        term.read(0.5)
        term.press(b"q")
        term.read(1.0)
    finally:
        term.close()
    written = term.screen_bytes
    assert TITLE_PAYLOAD not in written
    assert CLIPBOARD_PAYLOAD not in written
    assert b"\x1b]0;" not in written and b"\x1b]2;" not in written and b"\x1b]52;" not in written
    for payload in (b"dcs-payload", b"apc-payload", b"pm-payload", b"sos-payload"):
        assert payload not in written
    # Textual's own OSC 22 (the mouse pointer's shape) ends with a BEL: no other BEL may be left
    own = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", written)
    bells = [own[max(0, i - 40):i + 5] for i in range(len(own)) if own[i:i + 1] == b"\x07"]
    assert not bells, f"a bell reached the terminal: {bells[:3]}"


def test_ctrl_c_quits_with_the_workers_note(seeded, store_url, home):
    env = dict(os.environ, QUEUECTL_DB=store_url, QUEUECTL_HOME=str(home), TERM="xterm-256color")
    term = Terminal([sys.executable, "-m", "queuectl", "tui"], env)
    try:
        term.read_until(b"send-digest")
        term.press(b"\x03")
        deadline = time.monotonic() + 15
        while term.proc.poll() is None:
            assert time.monotonic() < deadline, f"Ctrl+C did not quit: {term.screen_bytes[-300:]!r}"
            term.read(0.2)
        term.read(0.5)
    finally:
        term.close()
    assert term.proc.returncode == 0
    assert b"worker(s) still running in the background (queuectl worker stop to stop them)" in term.screen_bytes


def test_tui_with_stdout_not_a_terminal_exits_2_with_one_line(home, tmp_path):
    env = dict(os.environ, QUEUECTL_HOME=str(home))
    env.pop("TEXTUAL_DRIVER", None)
    out = subprocess.run([sys.executable, "-m", "queuectl", "tui"], env=env, stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=30)
    assert out.returncode == 2
    assert out.stdout == b""
    assert out.stderr.decode().splitlines() == [
        "queuectl: error: tui needs a terminal: standard output is not one (for a script, try: queuectl status or list)"
    ]
