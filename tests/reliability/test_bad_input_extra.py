"""Bad input the table in tests/cli/test_bad_input.py does not have: command-line bytes that are not
UTF-8 (a job id typed in a Latin-1 terminal, a file name from a foreign disk) and a current
directory whose name is not UTF-8. Same promise: exit 1 or 2, one line on stderr, no traceback,
no "internal error", the store as before.

Run as real subprocesses: argv bytes only reach Python (as surrogate escapes) through exec. On both
stores: the text would reach sqlite3 or psycopg2, which both refuse surrogates.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from reliability_support import RQueuectl, make_q_for_module, reap_module

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


def _snapshot(q: RQueuectl) -> dict:
    return {t: sorted(q.sql(f"SELECT * FROM {t}"), key=repr) for t in ("job", "run", "setting")}


@pytest.fixture(scope="module")
def q(tmp_path_factory, module_store_under_test) -> Iterator[RQueuectl]:
    """One home (and store) for the module, on each store, holding one job."""
    qc = make_q_for_module(tmp_path_factory.mktemp("badinput"), module_store_under_test)
    try:
        qc.enqueue("--id", "p1", "true")
        yield qc
    finally:
        reap_module(qc)


def _check(res: subprocess.CompletedProcess) -> None:
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (1, 2), f"exit {res.returncode}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("queuectl: error:"), err
    assert res.stdout == b""


@pytest.mark.parametrize("args", list(CASES.values()), ids=list(CASES))
def test_non_utf8_arguments_are_refused_cleanly(q, args):
    before = _snapshot(q)
    res = subprocess.run([sys.executable.encode(), b"-m", b"queuectl", *args], env=q.env, capture_output=True,
                         cwd=q.work, timeout=60)
    _check(res)
    assert _snapshot(q) == before


def test_enqueue_from_a_directory_whose_name_is_not_utf8(q):
    odd = os.path.join(os.fsencode(q.work), b"dir-\xff")
    os.mkdir(odd)
    before = _snapshot(q)
    res = subprocess.run([sys.executable, "-m", "queuectl", "enqueue", "true"], env=q.env, capture_output=True,
                         cwd=odd, timeout=60)
    _check(res)  # (or, were it accepted, the job must be enqueued: either way, no internal error)
    assert _snapshot(q) == before
