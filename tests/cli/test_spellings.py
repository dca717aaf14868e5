"""Spellings users bring from other queuectl versions (issue 12): each works, none is in the main
command list, and all are named in the one line at the end of the main help."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from proc_support import wait_until


def _commands_listed(help_text: str) -> set[str]:
    section = help_text.split("Commands:")[1].split("Also accepted")[0]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()}


@pytest.mark.no_store
def test_aliases_are_hidden_and_named_in_one_line_at_the_end_of_the_help(run):
    out = run("--help").out
    listed = _commands_listed(out)
    for hidden in ("add", "metrics", "init", "dashboard", "inspect", "kill"):
        assert hidden not in listed, hidden
    tail = " ".join(out.split("Also accepted:")[1].split())
    for name in ("add", "metrics", "init", "dashboard", "worker status", "dlq show", "enqueue --file", "-d",
                 "config-get"):
        assert name in tail, name
    assert "status" not in [line.split()[0] for line in run("worker", "--help").out.split("Commands:")[1].splitlines()
                            if line.strip()]
    assert "show" not in [line.split()[0] for line in run("dlq", "--help").out.split("Commands:")[1].splitlines()
                          if line.strip()]


def test_config_get_without_a_key_lists_every_setting(run):
    everything = run("config", "list", "--json").json()
    assert run("config", "get", "--json").json() == everything
    assert run("config-get", "--json").json() == everything
    assert run("config", "get").out == run("config", "list").out
    assert run("config-get", "max-retries").out.strip() == "3"


def test_worker_status_is_worker_list(run):
    assert run("worker", "status", "--json").json() == run("worker", "list", "--json").json() == []
    assert run("worker", "status").out == run("worker", "list").out


def test_add_is_enqueue_and_metrics_is_stats(run):
    job = run("add", "echo hi").out.strip()
    assert run("show", job, "--json").json()["command"] == "echo hi"
    assert run("add", "--json", "-p", "3", "true").json()["priority"] == 3
    assert run("metrics", "--json").json().keys() == run("stats", "--json").json().keys()
    assert run("metrics", "--since", "15m").code == 0


def test_enqueue_file_is_enqueue_at_file(run, workdir):
    (workdir / "jobs.ndjson").write_text('{"command": "a", "id": "f1"}\n{"command": "b", "id": "f2"}\n')
    (workdir / "plain.txt").write_text('{"command": "c", "id": "f3"}')
    assert run("enqueue", "--file", "jobs.ndjson").out.split() == ["f1", "f2"]
    assert run("enqueue", "--file", "plain.txt").out.split() == ["f3"]  # read as a job file, whatever its name
    res = run("enqueue", "--file", "missing.json")
    assert res.code == 2 and "missing.json" in res.err
    res = run("enqueue", "--file", "jobs.ndjson", "true")
    assert res.code == 2
    assert res.err_lines == ["queuectl: error: give the jobs either as SOURCE or with --file, not both"]


def test_d_is_delay(run):
    job = run("enqueue", "--json", "-d", "5m", "true").json()
    shown = run("show", job["id"], "--json").json()
    assert shown["run_at"] > shown["created_at"]
    assert run("enqueue", "-d", "soon", "true").code == 2


def test_retry_reset_is_accepted(run, core):
    core.dead("d1")
    res = run("retry", "--reset", "d1")
    assert res.code == 0 and res.out.strip() == "retried d1"
    assert core.state("d1") == "pending"


def test_dlq_show_is_show(run, core):
    core.dead("d1")
    assert run("dlq", "show", "d1", "--json").json() == run("show", "d1", "--json").json()
    assert run("dlq", "show", "nope").code == 1


def test_init_creates_the_store_and_says_where(run, home, store_under_test):
    res = run("init")
    assert res.code == 0
    if store_under_test is None:
        assert (home / "queue.db").exists() and str(home / "queue.db") in res.out
    else:
        assert "postgresql://" in res.out
    assert run("init").code == 0  # again: nothing to do, same answer


@pytest.mark.backends("sqlite")
def test_a_bare_file_path_is_a_sqlite_store(run, workdir, monkeypatch):
    path = workdir / "bare.db"
    assert run("--db", str(path), "enqueue", "--id", "b1", "true").code == 0
    assert path.exists()
    assert [j["id"] for j in run("--db", "bare.db", "list", "--json").json()] == ["b1"]  # relative to the cwd
    monkeypatch.setenv("QUEUECTL_DB", str(path))
    assert [j["id"] for j in run("list", "--json").json()] == ["b1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("how", ["--addr", "--port"])
def test_dashboard_is_tui_web(home, how):
    port = _free_port()
    args = ["--addr", f"127.0.0.1:{port}"] if how == "--addr" else ["--port", str(port)]
    proc = subprocess.Popen([sys.executable, "-m", "queuectl", "dashboard", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        wait_until(lambda: _listening(port) or proc.poll() is not None, timeout=20, message="the dashboard to listen")
        assert proc.poll() is None, proc.communicate()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert f"127.0.0.1:{port}" in out + err


@pytest.mark.no_store
@pytest.mark.parametrize("addr", ["nonsense", "127.0.0.1:", "127.0.0.1:99999"])
def test_dashboard_refuses_a_bad_addr(run, addr):
    res = run("dashboard", "--addr", addr)
    assert res.code == 2 and res.err_lines == [f"queuectl: error: --addr: expected HOST:PORT, got '{addr}'"]
