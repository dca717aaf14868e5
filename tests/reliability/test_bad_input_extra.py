"""Bad input the table in tests/cli/test_bad_input.py does not have: command-line bytes that are not
UTF-8 (a job id typed in a Latin-1 terminal, a file name from a foreign disk) and a current
directory whose name is not UTF-8. Same promise: exit 1 or 2, one line on stderr, no traceback,
no "internal error", the store as before.

Run as real subprocesses: argv bytes only reach Python (as surrogate escapes) through exec.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

BAD = b"\xff\xfeid"

CASES = {  # one per code path that takes a job id, a worker id or a name from the command line
    "show": [b"show", BAD],
    "logs": [b"logs", BAD],
    "wait": [b"wait", BAD, b"--timeout", b"0.1"],
    "cancel": [b"cancel", BAD],
    "retry": [b"retry", BAD],
    "delete": [b"delete", BAD],
    "dlq-delete": [b"dlq", b"delete", BAD],
    "worker-stop": [b"worker", b"stop", BAD],
    "list-queue": [b"list", b"--queue", BAD],
    "enqueue-id": [b"enqueue", b"--id", BAD, b"true"],
    "enqueue-command": [b"enqueue", b"echo " + BAD],
    "config-set": [b"config", b"set", BAD, b"1"],
}


def _snapshot(db) -> dict:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in ("job", "run", "setting")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("badinput")
    env = dict(os.environ, QUEUECTL_HOME=str(tmp_path / "home"))
    env.pop("QUEUECTL_DB", None)
    subprocess.run([sys.executable, "-m", "queuectl", "enqueue", "--id", "p1", "true"], env=env, check=True,
                   capture_output=True, cwd=tmp_path)
    return tmp_path, env


def _check(res: subprocess.CompletedProcess) -> None:
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (1, 2), f"exit {res.returncode}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("queuectl: error:"), err
    assert res.stdout == b""


@pytest.mark.parametrize("args", list(CASES.values()), ids=list(CASES))
def test_non_utf8_arguments_are_refused_cleanly(home, args):
    root, env = home
    db = root / "home" / "queue.db"
    before = _snapshot(db)
    res = subprocess.run([sys.executable.encode(), b"-m", b"queuectl", *args], env=env, capture_output=True,
                         cwd=root, timeout=60)
    _check(res)
    assert _snapshot(db) == before


def test_enqueue_from_a_directory_whose_name_is_not_utf8(home):
    root, env = home
    db = root / "home" / "queue.db"
    odd = os.path.join(os.fsencode(root), b"dir-\xff")
    os.mkdir(odd)
    before = _snapshot(db)
    res = subprocess.run([sys.executable, "-m", "queuectl", "enqueue", "true"], env=env, capture_output=True,
                         cwd=odd, timeout=60)
    _check(res)  # (or, were it accepted, the job must be enqueued: either way, no internal error)
    assert _snapshot(db) == before
