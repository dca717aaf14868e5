"""What `enqueue SOURCE…` reads as jobs and what it runs as a command (issue 11 §3, issue 13 item 11).

Only `-`, `@FILE`, JSON text and a name ending in .json/.jsonl/.ndjson are job sources; anything else
is a command, never looked up as a path. Several words are one command, quoted so its argv runs as
given. A job file is read only if it is a regular file, and only up to JOB_FILE_MAX_BYTES.
"""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import sys

import pytest

JOB_FILE_MAX_BYTES = 64 << 20  # the documented cap (queuectl.cli.JOB_FILE_MAX_BYTES)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # an endless read fails fast, not the machine


def queuectl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """The real console entry in a subprocess, with a time and memory limit: a test of a hang or of an
    endless file must fail, not hang or eat the machine's memory."""
    return subprocess.run([sys.executable, "-m", "queuectl", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=_limit_memory)


def command_of(ok, job_id: str) -> str:
    return ok("show", job_id, "--json").json()["command"]


@pytest.fixture
def ok(run):
    def _ok(*args: str, input: str | None = None):
        result = run(*args, input=input)
        assert result.code == 0, f"queuectl {' '.join(args)} -> {result.code}: {result.err}"
        assert result.err == ""
        return result

    return _ok


def test_an_existing_script_is_run_not_read_as_json(ok, workdir):
    script = workdir / "build.sh"
    script.write_text("#!/bin/sh\necho built\n")
    script.chmod(0o755)
    for word in ("./build.sh", "build.sh", str(script)):
        job_id = ok("enqueue", word).out.strip()
        assert command_of(ok, job_id) == word


def test_an_existing_file_without_a_job_suffix_is_a_command(ok, workdir):
    (workdir / "batch").write_text('{"id":"g1","command":"echo 1"}\n')
    job_id = ok("enqueue", "batch").out.strip()
    assert job_id != "g1" and command_of(ok, job_id) == "batch"


@pytest.mark.parametrize("args,command", [
    (["ls", "-la"], "ls -la"),
    (["--", "ls", "-la"], "ls -la"),
    (["--priority", "3", "ls", "-la"], "ls -la"),
    (["-p3", "--queue=io", "ls", "-la", "--json"], "ls -la --json"),  # after the program, words are its own
    (["echo", "a b", "$HOME", "it's"], "echo 'a b' '$HOME' 'it'\"'\"'s'"),
    (["--", "cat", "jobs.json"], "cat jobs.json"),
    (["--", "-", "x"], "- x"),
    (["--", "{not json}"], "{not json}"),  # after --, always the command
])
def test_several_words_are_one_quoted_command(ok, args, command):
    result = ok("enqueue", *args)
    job_id = result.out.strip()
    assert command_of(ok, job_id) == command


def test_options_before_the_program_still_apply(ok):
    job = ok("show", ok("enqueue", "-p", "3", "--queue", "io", "--id", "w1", "ls", "-la").out.strip(), "--json").json()
    assert (job["id"], job["priority"], job["queue"], job["command"]) == ("w1", 3, "io", "ls -la")


def test_the_argv_runs_exactly_as_given(ok, workdir):
    """Words with spaces, quotes, $ and globs reach the program unchanged (a real worker runs it)."""
    argv = ["printf", "<%s>", "a b", "$HOME", "it's", "*", ""]
    job_id = ok("enqueue", "--", *argv).out.strip()
    (workdir / "glob-bait").write_text("")
    worker = subprocess.run([sys.executable, "-m", "queuectl", "worker", "run", "--burst", "--quiet"],
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert worker.returncode == 0, worker.stderr
    assert ok("show", job_id, "--json").json()["state"] == "completed"
    assert ok("logs", job_id).out == "<a b><$HOME><it's><*><>"


def test_one_argument_stays_a_shell_string(ok):
    job_id = ok("enqueue", "echo a && echo 'b c' | tr b x").out.strip()
    assert command_of(ok, job_id) == "echo a && echo 'b c' | tr b x"


@pytest.mark.parametrize("command", ["echo " + "x" * 300, "true;" + ":" * 300, "/" + "d/" * 200 + "x"])
def test_a_long_command_is_never_taken_for_a_path(ok, command):
    job_id = ok("enqueue", command).out.strip()
    assert command_of(ok, job_id) == command


def test_a_path_in_an_unreadable_directory_is_a_command_or_a_clean_error(ok, workdir, store_snapshot):
    """Before: `internal error: PermissionError`. A command is never stat()ed; a job file named there
    is one line, exit 2. As root, the subprocess drops the capabilities that bypass permissions."""
    secret = workdir / "secret"
    secret.mkdir()
    secret.chmod(0)
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []

    def enqueue(word: str) -> subprocess.CompletedProcess:
        return subprocess.run([*drop, sys.executable, "-m", "queuectl", "enqueue", word], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)

    try:
        proc = enqueue(f"{secret}/run.sh")
        assert proc.returncode == 0 and proc.stderr == "", proc
        assert command_of(ok, proc.stdout.strip()) == f"{secret}/run.sh"
        before = store_snapshot()
        proc = enqueue(f"{secret}/jobs.json")
        assert proc.returncode == 2, proc
        assert proc.stderr == f"queuectl: error: cannot read {secret}/jobs.json: Permission denied\n"
        assert store_snapshot() == before
    finally:
        secret.chmod(0o700)


def test_options_may_still_follow_a_job_source(ok, workdir):
    (workdir / "jobs.ndjson").write_text('{"id":"n1","command":"echo 1"}\n')
    assert [job["id"] for job in ok("enqueue", "jobs.ndjson", "--json").json()] == ["n1"]
    assert [job["id"] for job in ok("enqueue", "-", "--json", input='{"id":"s1","command":"true"}\n').json()] == ["s1"]
    assert ok("enqueue", "echo hi", "--id", "q1").out == "q1\n"


@pytest.mark.parametrize("args,mentions", [
    (["echo hi", "there"], "options go before the command"),
    (["jobs.json", "extra"], "options go before the command"),
    (["missing.json"], "no such file: missing.json"),
    (["@missing"], "no such file: missing"),
    (["@/dev/null"], "not a regular file"),
    (["@."], "not a regular file"),
])
def test_bad_sources_are_refused_and_change_nothing(run, store_snapshot, args, mentions):
    before = store_snapshot()
    result = run("enqueue", *args)
    assert result.code == 2, result
    assert len(result.err_lines) == 1 and mentions in result.err, result.err
    assert result.out == ""
    assert store_snapshot() == before


def test_a_fifo_job_file_is_refused_at_once(workdir, store_snapshot):
    os.mkfifo(workdir / "jobs.json")
    before = store_snapshot()
    for word in ("jobs.json", "@jobs.json"):
        proc = queuectl("enqueue", word, timeout=20)  # before the fix: blocked for ever in open()
        assert proc.returncode == 2, proc
        assert proc.stderr.count("\n") == 1 and "not a regular file" in proc.stderr
    assert store_snapshot() == before


@pytest.mark.parametrize("word", ["@/dev/zero", "@/dev/urandom"])
def test_an_endless_device_is_refused_at_once(word, store_snapshot):
    before = store_snapshot()
    proc = queuectl("enqueue", word)
    assert proc.returncode == 2, proc
    assert proc.stderr == f"queuectl: error: cannot read {word[1:]}: not a regular file\n"
    assert store_snapshot() == before


def test_a_job_file_over_the_cap_is_refused(workdir, store_snapshot):
    big = workdir / "big.json"
    with open(big, "wb") as f:
        f.truncate(JOB_FILE_MAX_BYTES + 1)  # sparse: costs no disk
    before = store_snapshot()
    proc = queuectl("enqueue", "big.json")
    assert proc.returncode == 2, proc
    assert proc.stderr.strip() == "queuectl: error: big.json is larger than 64 MiB"
    assert store_snapshot() == before


def test_stdin_over_the_cap_is_refused(store_snapshot):
    before = store_snapshot()
    proc = subprocess.run(
        f"head -c {JOB_FILE_MAX_BYTES + 10} /dev/zero | {shlex.quote(sys.executable)} -m queuectl enqueue -",
        shell=True, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    assert proc.stderr.strip() == "queuectl: error: stdin is larger than 64 MiB"
    assert store_snapshot() == before


def test_a_job_file_that_is_not_utf8_is_refused(run, workdir, store_snapshot):
    (workdir / "latin.json").write_bytes(b'{"command": "echo \xe9"}')
    before = store_snapshot()
    result = run("enqueue", "latin.json")
    assert result.code == 2 and len(result.err_lines) == 1 and "latin.json" in result.err, result
    assert store_snapshot() == before
