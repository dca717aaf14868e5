"""A bad input changes nothing: exit 2 (bad usage/input) or 1 (no such job, wrong state), exactly one
line on stderr naming what was wrong, never a traceback, and the store exactly as before.

One table; every row runs against a store seeded with jobs in every state and one overridden setting,
on both stores. A store that cannot be used has a table per backend: the SQLite file's own failures
(a directory, a file that is not SQLite) and PostgreSQL's (no server, no such database, a password).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    mentions: tuple[str, ...] = ()
    stdin: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    seed: str = "basic"  # "basic": jobs in every state + a setting; "empty": a fresh, empty store
    hides: tuple[str, ...] = ()  # never printed (a password in a store URL)


def c(*args: str, code: int = 2, mentions: tuple[str, ...] | str = (), **kw) -> Case:
    return Case(tuple(args), code, (mentions,) if isinstance(mentions, str) else tuple(mentions), **kw)


NDJSON_DUP = '{"id":"a1","command":"echo 1"}\n{"id":"a2","command":"echo 2"}\n{"id":"a1","command":"echo 3"}\n'
NDJSON_BAD_LINE = '{"command":"echo 1"}\n{"command":"echo 2"}\n{"command": "echo 3", "priority": "high"}\n'
ARRAY_DUP = '[{"id":"b1","command":"echo 1"},{"id":"b2","command":"echo 2"},{"id":"b1","command":"echo 3"}]'
ARRAY_BAD = '[{"command":"echo 1"},{"command":"echo 2"},{"command":"echo 3","max_retries":-1}]'
BIG_CLASH = "".join(f'{{"id":"big-{n}","command":"echo {n}"}}\n' for n in range(6000)) + '{"id":"p1","command":"x"}\n'
ARRAY_CLASH = '[{"id":"new-1","command":"echo 1"},{"id":"p1","command":"echo 2"}]'

CASES: dict[str, Case] = {
    # ── enqueue: the JSON itself ───────────────────────────────────────────────────────────
    "json-malformed": c("enqueue", '{"command": "echo hi"', mentions="JSON"),
    "json-malformed-trailing-comma": c("enqueue", '{"command": "echo hi",}', mentions="JSON"),
    "json-array-malformed": c("enqueue", '[{"command": "echo"}', mentions="JSON"),
    "json-not-an-object": c("enqueue", "[1, 2]", mentions="object"),
    "json-empty-array": c("enqueue", "[]", mentions="no jobs"),
    "json-no-command": c("enqueue", '{"id":"x"}', mentions="command"),
    "json-null-command": c("enqueue", '{"command": null}', mentions="command"),
    "json-empty-command": c("enqueue", '{"command":""}', mentions="command"),
    "json-blank-command": c("enqueue", '{"command":"   "}', mentions="command"),
    "json-command-not-string": c("enqueue", '{"command": ["echo", "hi"]}', mentions="command"),
    "raw-empty-command": c("enqueue", "", mentions="command"),
    "json-unknown-field": c("enqueue", '{"command":"echo","colour":"red"}', mentions="colour"),
    "json-state-field": c("enqueue", '{"command":"echo","state":"completed"}', mentions="state"),
    "json-attempts-field": c("enqueue", '{"command":"echo","attempts":2}', mentions="attempts"),
    "json-created_at-field": c("enqueue", '{"command":"echo","created_at":0}', mentions="created_at"),
    # ── enqueue: every field's type and range ──────────────────────────────────────────────
    "json-id-not-string": c("enqueue", '{"id": 7, "command":"echo"}', mentions="id"),
    "json-id-slash": c("enqueue", '{"id":"a/b","command":"echo"}', mentions="id"),
    "json-id-dotdot": c("enqueue", '{"id":"a..b","command":"echo"}', mentions="id"),
    "json-id-space": c("enqueue", '{"id":"a b","command":"echo"}', mentions="id"),
    "json-id-leading-dash": c("enqueue", '{"id":"-a","command":"echo"}', mentions="id"),
    "json-id-too-long": c("enqueue", '{"id":"%s","command":"echo"}' % ("a" * 129), mentions="id"),
    "json-max_retries-string": c("enqueue", '{"command":"echo","max_retries":"3"}', mentions="max_retries"),
    "json-max_retries-negative": c("enqueue", '{"command":"echo","max_retries":-1}', mentions="max_retries"),
    "json-max_retries-float": c("enqueue", '{"command":"echo","max_retries":2.5}', mentions="max_retries"),
    "json-max_retries-bool": c("enqueue", '{"command":"echo","max_retries":true}', mentions="max_retries"),
    "json-priority-float": c("enqueue", '{"command":"echo","priority":1.5}', mentions="priority"),
    "json-priority-bool": c("enqueue", '{"command":"echo","priority":true}', mentions="priority"),
    "json-priority-string": c("enqueue", '{"command":"echo","priority":"high"}', mentions="priority"),
    "json-run_at-garbage": c("enqueue", '{"command":"echo","run_at":"tomorrow-ish"}', mentions="run_at"),
    "json-run_at-bool": c("enqueue", '{"command":"echo","run_at":true}', mentions="run_at"),
    "json-run_at-negative": c("enqueue", '{"command":"echo","run_at":-5}', mentions="run_at"),
    "json-timeout-negative": c("enqueue", '{"command":"echo","timeout":-5}', mentions="timeout"),
    "json-timeout-string": c("enqueue", '{"command":"echo","timeout":"soon"}', mentions="timeout"),
    "json-cwd-empty": c("enqueue", '{"command":"echo","cwd":""}', mentions="cwd"),
    "json-cwd-number": c("enqueue", '{"command":"echo","cwd":5}', mentions="cwd"),
    "json-env-not-object": c("enqueue", '{"command":"echo","env":"A=1"}', mentions="env"),
    "json-env-value-number": c("enqueue", '{"command":"echo","env":{"A":1}}', mentions="env"),
    "json-env-name-with-equals": c("enqueue", '{"command":"echo","env":{"A=B":"1"}}', mentions="env"),
    "json-queue-bad-name": c("enqueue", '{"command":"echo","queue":"my queue"}', mentions="queue"),
    "json-queue-number": c("enqueue", '{"command":"echo","queue":3}', mentions="queue"),
    "json-duplicate-existing-id": c("enqueue", '{"id":"p1","command":"echo"}', mentions="p1"),
    # ── enqueue: bulk input is all-or-nothing ──────────────────────────────────────────────
    "ndjson-file-duplicate-ids": c("enqueue", "jobs.ndjson", mentions="a1", files={"jobs.ndjson": NDJSON_DUP},
                                   seed="empty"),
    "ndjson-stdin-duplicate-ids": c("enqueue", "-", mentions="a1", stdin=NDJSON_DUP, seed="empty"),
    "ndjson-file-bad-line": c("enqueue", "jobs.ndjson", mentions=("line 3", "priority"),
                              files={"jobs.ndjson": NDJSON_BAD_LINE}, seed="empty"),
    "ndjson-stdin-bad-line": c("enqueue", "-", mentions=("line 3", "priority"), stdin=NDJSON_BAD_LINE,
                               seed="empty"),
    "ndjson-stdin-malformed-line": c("enqueue", "-", mentions=("line 2",),
                                     stdin='{"command":"echo 1"}\n{"command": oops}\n', seed="empty"),
    "array-duplicate-ids": c("enqueue", ARRAY_DUP, mentions="b1", seed="empty"),
    "array-file-duplicate-ids": c("enqueue", "@jobs.txt", mentions="b1", files={"jobs.txt": ARRAY_DUP},
                                  seed="empty"),
    "array-bad-third-job": c("enqueue", ARRAY_BAD, mentions=("job 3", "max_retries"), seed="empty"),
    "array-id-clashes-with-stored-job": c("enqueue", ARRAY_CLASH, mentions="p1"),
    "ndjson-6001-jobs-last-clashes": c("enqueue", "-", mentions="p1", stdin=BIG_CLASH),  # > one insert chunk
    "stdin-empty": c("enqueue", "-", mentions="no jobs", stdin=""),
    "stdin-not-json": c("enqueue", "-", mentions="JSON", stdin="echo hello\n"),
    "missing-json-file": c("enqueue", "missing.json", mentions="missing.json"),
    "missing-ndjson-file": c("enqueue", "jobs.ndjson", mentions="jobs.ndjson"),
    "missing-at-file": c("enqueue", "@missing", mentions="missing"),
    # ── enqueue: flags ─────────────────────────────────────────────────────────────────────
    "enqueue-nothing": c("enqueue"),
    "enqueue-source-and-command": c("enqueue", "echo a", "--command", "echo b", mentions="--command"),
    "enqueue-delay-abc": c("enqueue", "--delay", "abc", "echo", mentions="--delay"),
    "enqueue-delay-negative": c("enqueue", "--delay=-5", "echo", mentions="--delay"),
    "enqueue-delay-and-run-at": c("enqueue", "--delay", "5", "--run-at", "2030-01-01", "echo",
                                  mentions=("--run-at", "--delay")),
    "enqueue-run-at-garbage": c("enqueue", "--run-at", "garbage", "echo", mentions="run_at"),
    "enqueue-timeout-negative": c("enqueue", "--timeout", "-5", "echo", mentions="--timeout"),
    "enqueue-timeout-abc": c("enqueue", "--timeout", "abc", "echo", mentions="--timeout"),
    "enqueue-env-no-equals": c("enqueue", "--env", "NOEQUALS", "echo", mentions=("--env", "NOEQUALS")),
    "enqueue-id-slash": c("enqueue", "--id", "a/b", "echo", mentions="id"),
    "enqueue-id-duplicate": c("enqueue", "--id", "done1", "echo", mentions="done1"),
    "enqueue-id-for-many-jobs": c("enqueue", "--id", "x1", '[{"command":"a"},{"command":"b"}]', mentions="--id"),
    "enqueue-max-retries-negative": c("enqueue", "--max-retries", "-1", "echo", mentions="max_retries"),
    "enqueue-max-retries-abc": c("enqueue", "--max-retries", "abc", "echo", mentions="--max-retries"),
    "enqueue-priority-abc": c("enqueue", "--priority", "abc", "echo", mentions="--priority"),
    "enqueue-queue-bad": c("enqueue", "--queue", "a b", "echo", mentions="queue"),
    "enqueue-cwd-empty": c("enqueue", "--cwd", "", "echo", mentions="cwd"),
    "enqueue-flag-bad-with-json": c("enqueue", "--priority", "2000000", '{"command":"echo"}', mentions="priority"),
    # ── config ─────────────────────────────────────────────────────────────────────────────
    "config-set-unknown": c("config", "set", "nope", "5", mentions=("nope", "max_retries")),
    "config-set-max_retries-negative": c("config", "set", "max_retries", "-1", mentions="max_retries"),
    "config-set-max-retries-float": c("config", "set", "max-retries", "1.5", mentions="max_retries"),
    "config-set-backoff_base-abc": c("config", "set", "backoff_base", "abc", mentions="backoff_base"),
    "config-set-backoff_base-below-1": c("config", "set", "backoff_base", "0.5", mentions="backoff_base"),
    "config-set-poll_interval-zero": c("config", "set", "poll_interval", "0", mentions="poll_interval"),
    "config-set-worker_timeout-nan": c("config", "set", "worker-timeout", "nan", mentions="worker_timeout"),
    "config-set-log_max_bytes-tiny": c("config", "set", "log_max_bytes", "10", mentions="log_max_bytes"),
    "config-set-missing-value": c("config", "set", "max_retries", mentions="VALUE"),
    "config-get-unknown": c("config", "get", "nope", mentions="nope"),
    "config-reset-unknown": c("config", "reset", "nope", mentions="nope"),
    "config-set-alias-unknown": c("config-set", "nope", "1", mentions="nope"),
    "config-get-alias-unknown": c("config-get", "nope", mentions="nope"),
    # ── job ids that do not exist (exit 1) ─────────────────────────────────────────────────
    "show-unknown": c("show", "no-such-job", code=1, mentions="no-such-job"),
    "inspect-unknown": c("inspect", "no-such-job", code=1, mentions="no-such-job"),
    "retry-unknown": c("retry", "no-such-job", code=1, mentions="no-such-job"),
    "retry-known-and-unknown": c("retry", "dead1", "no-such-job", code=1, mentions="no-such-job"),
    "cancel-unknown": c("cancel", "no-such-job", code=1, mentions="no-such-job"),
    "kill-unknown": c("kill", "no-such-job", code=1, mentions="no-such-job"),
    "cancel-known-and-unknown": c("cancel", "p1", "no-such-job", code=1, mentions="no-such-job"),
    "delete-unknown": c("delete", "no-such-job", code=1, mentions="no-such-job"),
    "delete-known-and-unknown": c("delete", "p1", "no-such-job", code=1, mentions="no-such-job"),
    "logs-unknown": c("logs", "no-such-job", code=1, mentions="no-such-job"),
    "logs-unknown-run": c("logs", "done1", "--attempt", "9", code=1, mentions=("done1", "9")),
    "dlq-retry-unknown": c("dlq", "retry", "no-such-job", code=1, mentions="no-such-job"),
    "dlq-retry-alias-unknown": c("dlq-retry", "no-such-job", code=1, mentions="no-such-job"),
    "dlq-delete-unknown": c("dlq", "delete", "no-such-job", code=1, mentions="no-such-job"),
    "wait-unknown": c("wait", "no-such-job", "--timeout", "1", code=2, mentions="no-such-job"),
    # ── queues, dependencies, unique keys, hold/release/start/edit ─────────────────────────
    "enqueue-after-unknown": c("enqueue", "--after", "no-such-job", "--", "true", mentions="no-such-job"),
    "enqueue-after-unknown-of-two": c("enqueue", "--after", "p1,no-such-job", "true", mentions="no-such-job"),
    "enqueue-after-not-an-id": c("enqueue", "--after", "a b", "true", mentions="after"),
    "enqueue-after-cycle": c("enqueue", '[{"id":"c1","command":"true","after":["c2"]},'
                             '{"id":"c2","command":"true","after":"c1"}]', mentions="cycle: c1 -> c2 -> c1"),
    "enqueue-after-itself": c("enqueue", '{"id":"c1","command":"true","after":["c1"]}', mentions="cycle"),
    "enqueue-after-not-a-list": c("enqueue", '{"command":"true","after":5}', mentions="after"),
    "enqueue-unique-empty": c("enqueue", "--unique", " ", "true", mentions="unique"),
    "enqueue-label-two-lines": c("enqueue", "--label", "a\nb", "true", mentions="label"),
    "enqueue-hold-not-bool": c("enqueue", '{"command":"true","hold":"yes"}', mentions="hold"),
    "queue-set-negative-limit": c("queue", "set", "gpu", "--limit", "-1", mentions="limit"),
    "queue-set-word-limit": c("queue", "set", "gpu", "--limit", "many", mentions="limit"),
    "queue-set-without-limit": c("queue", "set", "gpu", mentions="--limit"),
    "queue-pause-bad-name": c("queue", "pause", "a b", mentions="queue"),
    "hold-unknown": c("hold", "no-such-job", code=1, mentions="no-such-job"),
    "hold-running": c("hold", "p1", "proc1", code=1, mentions="proc1"),
    "release-not-held": c("release", "p1", code=1, mentions=("p1", "not held")),
    "start-dead": c("start", "dead1", code=1, mentions="dead1"),
    "edit-running": c("edit", "proc1", "--priority", "3", code=1, mentions=("proc1", "waiting")),
    "edit-unknown": c("edit", "no-such-job", "--priority", "3", code=1, mentions="no-such-job"),
    "edit-nothing-off-a-terminal": c("edit", "p1", mentions="nothing to change"),
    "edit-priority-out-of-range": c("edit", "p1", "--priority", "99999999", mentions="priority"),
    "edit-bad-queue": c("edit", "p1", "--queue", "a b", mentions="queue"),
    "edit-run-at-and-delay": c("edit", "p1", "--run-at", "+5", "--delay", "5", mentions="--delay"),
    # ── jobs in the wrong state (exit 1) ───────────────────────────────────────────────────
    "retry-completed-without-force": c("retry", "done1", code=1, mentions=("done1", "--force")),
    "retry-pending": c("retry", "p1", code=1, mentions="p1"),
    "retry-processing": c("retry", "proc1", code=1, mentions="proc1"),
    "retry-dead-and-completed": c("retry", "dead1", "done1", code=1, mentions="done1"),
    "delete-processing": c("delete", "proc1", code=1, mentions="proc1"),
    "delete-pending-and-processing": c("delete", "p1", "proc1", code=1, mentions="proc1"),
    "cancel-completed": c("cancel", "done1", code=1, mentions="done1"),
    "cancel-pending-and-dead": c("cancel", "p1", "dead1", code=1, mentions="dead1"),
    "dlq-retry-not-dead": c("dlq", "retry", "fail1", code=1, mentions="fail1"),
    "dlq-delete-not-dead": c("dlq", "delete", "p1", code=1, mentions="p1"),
    # ── reading and bulk commands ──────────────────────────────────────────────────────────
    "list-state-bogus": c("list", "--state", "bogus", mentions="bogus"),
    "list-limit-zero": c("list", "--limit", "0", mentions="--limit"),
    "list-limit-abc": c("list", "-n", "abc", mentions="--limit"),
    "purge-state-pending": c("purge", "--state", "pending", mentions="pending"),
    "purge-state-processing": c("purge", "--state", "completed", "--state", "processing", mentions="processing"),
    "purge-state-bogus": c("purge", "--state", "bogus", mentions="bogus"),
    "purge-older-than-abc": c("purge", "--older-than", "abc", mentions="--older-than"),
    "stats-since-abc": c("stats", "--since", "abc", mentions="--since"),
    "stats-since-zero": c("stats", "--since", "0", mentions="--since"),
    "dlq-retry-nothing": c("dlq", "retry", mentions="--all"),
    "dlq-retry-ids-and-all": c("dlq", "retry", "dead1", "--all", mentions="--all"),
    "dlq-delete-nothing": c("dlq", "delete"),
    "retry-no-ids": c("retry"),
    "show-no-id": c("show"),
    "wait-timeout-abc": c("wait", "p1", "--timeout", "abc", mentions="--timeout"),
    "logs-attempt-zero": c("logs", "done1", "--attempt", "0", mentions="--attempt"),
    # ── workers (validation happens before anything is started) ────────────────────────────
    "worker-start-zero": c("worker", "start", "-c", "0", mentions="--count"),
    "worker-start-more-processes-than-slots": c("worker", "start", "-c", "2", "-p", "5", mentions="--processes"),
    "worker-run-zero-slots": c("worker", "run", "-c", "0", mentions="--count"),
    "worker-start-alias-zero": c("worker-start", "--count", "0", mentions="--count"),
    "worker-start-bad-queue": c("worker", "start", "--queue", "a b", mentions="queue"),
    "worker-stop-timeout-abc": c("worker", "stop", "--timeout", "abc", mentions="--timeout"),
    # ── usage ──────────────────────────────────────────────────────────────────────────────
    "unknown-command": c("frobnicate", mentions="frobnicate"),
    "misspelt-command": c("conifg", mentions=("conifg", "Did you mean", "'config'")),  # suggested though not loaded
    "unknown-subcommand": c("dlq", "frobnicate", mentions="frobnicate"),
    "unknown-option": c("list", "--colour", mentions="--colour"),
    "unknown-global-option": c("--verbose", "status", mentions="--verbose"),
    "db-url-ftp": c("--db", "ftp://x", "status", mentions="ftp://x"),
    "db-url-ftp-enqueue": c("--db", "ftp://x", "enqueue", "echo", mentions="ftp://x"),
    "db-url-sqlite-no-path": c("--db", "sqlite:///", "list", mentions="sqlite:///"),
    "tui-port-zero": c("tui", "--port", "0", mentions="--port"),
}

# ── a store that cannot be used (exit 1); the seeded store is the test's own, of the same backend ──
SQLITE_STORE_CASES: dict[str, Case] = {
    "db-is-a-directory": c("--db", "sqlite:///{work}", "status", code=1, mentions="{work}"),
    "db-is-not-a-database": c("--db", "sqlite:///{work}/junk.db", "list", code=1, mentions="junk.db",
                              files={"junk.db": "this is not SQLite " * 200}),
}
UNREACHABLE = "postgresql://queuectl@127.0.0.1:1/queuectl"  # port 1 of the loopback refuses at once
POSTGRESQL_STORE_CASES: dict[str, Case] = {
    "db-pg-unreachable": c("--db", UNREACHABLE, "status", code=1, mentions=("cannot reach", UNREACHABLE)),
    "db-pg-unreachable-enqueue": c("--db", UNREACHABLE, "enqueue", "echo", code=1, mentions=UNREACHABLE),
    "db-pg-no-such-database": c("--db", "{pg}/queuectl_no_such_db", "list", code=1,  # {pg}: the test server
                                mentions=("queuectl_no_such_db", "does not exist")),
    "db-pg-password-in-userinfo": c("--db", "postgresql://queuectl:s3cret-pw@127.0.0.1:1/queuectl", "status",
                                    code=1, mentions="postgresql://queuectl:***@127.0.0.1:1/queuectl",
                                    hides=("s3cret-pw",)),
    "db-pg-password-in-query": c("--db", "postgresql://queuectl@127.0.0.1:1/queuectl?password=s3cret-pw",
                                 "enqueue", "echo", code=1, mentions="?password=***", hides=("s3cret-pw",)),
}


def seed_basic(core) -> None:
    """Jobs in every state (claimed one at a time, so each claim takes the job meant) and a setting."""
    core.config.set("max_retries", "5")
    core.dead("dead1")
    core.completed("done1")
    core.failed("fail1")
    core.cancelled("canc1")
    core.processing("proc1")
    core.pending("p1")
    core.pending("p2", queue="other", priority=4)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_changes_nothing(case: Case, run, core, store_snapshot, workdir):
    check_refused(case, run, core, store_snapshot, workdir)


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("case", list(SQLITE_STORE_CASES.values()), ids=list(SQLITE_STORE_CASES))
def test_unusable_sqlite_store_changes_nothing(case: Case, run, core, store_snapshot, workdir):
    check_refused(case, run, core, store_snapshot, workdir)


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("case", list(POSTGRESQL_STORE_CASES.values()), ids=list(POSTGRESQL_STORE_CASES))
def test_unusable_postgresql_store_changes_nothing(case: Case, run, core, store_snapshot, workdir, store_under_test):
    check_refused(case, run, core, store_snapshot, workdir, pg_server=store_under_test.rsplit("/", 1)[0])


def check_refused(case: Case, run, core, store_snapshot, workdir: Path, pg_server: str = "") -> None:
    """Run `case` on a seeded store: refused with one line on stderr, and the store as it was."""

    def expand(text: str) -> str:
        return text.replace("{work}", str(workdir)).replace("{pg}", pg_server)

    if case.seed == "basic":
        seed_basic(core)
    for name, text in case.files.items():
        (workdir / name).write_text(text)
    before = store_snapshot()
    assert before, "the seeded store should exist"

    result = run(*(expand(a) for a in case.args), input=case.stdin)

    assert result.code == case.code, f"exit {result.code}, expected {case.code}; stderr: {result.err!r}"
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert "internal error" not in result.err, result.err
    assert result.out == "", f"a refused command printed {result.out!r}"
    lines = result.err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), f"expected one non-empty stderr line, got {result.err!r}"
    assert lines[0].startswith("queuectl: error:"), lines[0]
    for word in map(expand, case.mentions):
        assert word.lower() in lines[0].lower(), f"{word!r} not named in {lines[0]!r}"
    for secret in case.hides:
        assert secret not in result.err, f"{secret!r} printed in {lines[0]!r}"
    after = store_snapshot()
    assert after == before, "a refused command changed the store"
    if case.seed == "empty":
        assert after["job"] == [] and after["run"] == []


def test_another_applications_database_is_refused_and_left_alone(run, store_snapshot, home, store_under_test):
    """A store URL that names some other application's database (one with its own `job` table): every
    command exits 1 with one line, and the queuectl schema it began to create is rolled back."""
    create = "CREATE TABLE job (name TEXT); INSERT INTO job VALUES ('theirs')"
    if store_under_test:
        import psycopg2

        con = psycopg2.connect(store_under_test)
        with con, con.cursor() as cur:
            cur.execute(create)
    else:
        home.mkdir()
        con = sqlite3.connect(home / "queue.db")
        con.executescript(create)
    con.close()
    before = store_snapshot()
    assert before == {"job": [("theirs",)]}

    for args in (["status"], ["list"], ["enqueue", "true"]):
        result = run(*args)
        assert (result.code, result.out) == (1, ""), result
        assert len(result.err_lines) == 1 and "Traceback" not in result.err
        # SQLite: "table job already exists"; PostgreSQL: 'relation "job" already exists'
        assert "job" in result.err and "already exists" in result.err, result.err
    assert store_snapshot() == before


# ── the same promise over generated job objects ─────────────────────────────────────────────

ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["a/b", "..", "x..y", "30s", "2030-01-01T00:00:00Z", "+5m", "-1", "3", ""]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3),
                                                                                    st.integers()), max_size=2),
)
FIELD_NAMES = st.sampled_from(
    ["id", "command", "max_retries", "priority", "run_at", "timeout", "cwd", "env", "queue", "state", "attempts", "x"]
)


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(FIELD_NAMES, ANY_VALUE, max_size=4), st.booleans())
def test_any_job_object_is_enqueued_whole_or_refused_cleanly(run, store_snapshot, fields, with_command):
    obj = ({"command": "echo generated"} | fields) if with_command else fields
    before = store_snapshot()
    result = run("enqueue", json.dumps(obj))
    after = store_snapshot()
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    if result.code == 0:
        assert result.err == ""
        (job_id,) = result.out.split()
        assert len(after.get("job", [])) == len(before.get("job", [])) + 1
        if isinstance(obj.get("id"), str):
            assert job_id == obj["id"]
    else:
        assert result.code == 2, result
        assert result.out == "" and len(result.err.strip().splitlines()) == 1
        assert after == before
