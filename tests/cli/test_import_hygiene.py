"""Headless commands start fast: they never import Textual, Rich, psycopg2 or prometheus_client (nor does
the core); `enqueue` and `status` not even Peewee or the worker's side of the core.

Each check runs in a fresh interpreter, where sys.modules shows exactly what was loaded. The checks
run on the default SQLite store: a PostgreSQL store needs psycopg2, and loads it only then (the last test).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("textual", "rich", "psycopg2", "prometheus_client")

pytestmark = pytest.mark.backends("sqlite")

PRELUDE = textwrap.dedent(
    """
    import io, json, sys
    HEAVY = ("textual", "rich", "psycopg2", "prometheus_client")

    def heavy():
        return sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)

    def call(*args, stdin=None):
        from queuectl.cli import main
        real_out, real_in = sys.stdout, sys.stdin
        sys.stdout = io.StringIO()
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
        finally:
            out, sys.stdout, sys.stdin = sys.stdout.getvalue(), real_out, real_in
        return code, out
    """
)


def run_python(code: str, home, db: str | None = None) -> dict:
    env = {**os.environ, "QUEUECTL_HOME": str(home)}
    env.pop("QUEUECTL_DB", None)
    if db:
        env["QUEUECTL_DB"] = db
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.no_store
def test_importing_the_cli_loads_nothing_heavy(home):
    result = run_python(
        """
        import queuectl.cli
        print(json.dumps({"heavy": heavy()}))
        """,
        home,
    )
    assert result["heavy"] == []


@pytest.mark.parametrize(
    "calls",
    [
        [["status"]],
        [["status", "--json"]],
        [["enqueue", "echo hi"]],
        [["enqueue", '{"command": "echo hi", "priority": 2}']],
        [["enqueue", "-", "--json"], '{"command": "a"}\n{"command": "b"}\n'],
        [["enqueue", "--command", "true", "--delay", "5m", "--env", "A=1"]],
        [["enqueue", "{bad json"]],
    ],
    ids=["status", "status-json", "enqueue-raw", "enqueue-json", "enqueue-stdin", "enqueue-flags",
         "enqueue-bad"],
)
def test_status_and_enqueue_load_nothing_heavy(home, calls):
    args = calls[0]
    stdin = calls[1] if len(calls) > 1 else None
    result = run_python(
        f"""
        code, out = call(*{args!r}, stdin={stdin!r})
        print(json.dumps({{"code": code, "heavy": heavy()}}))
        """,
        home,
    )
    assert result["heavy"] == [], f"queuectl {' '.join(args)} imported {result['heavy']}"
    assert result["code"] == (2 if args[-1] == "{bad json" else 0)


def test_enqueue_and_status_load_only_their_own_command_module(home):
    result = run_python(
        """
        codes = [call("enqueue", "echo hi")[0], call("status")[0]]
        cli = sorted(m for m in sys.modules if m.startswith("queuectl.cli."))
        print(json.dumps({"codes": codes, "cli": cli}))
        """,
        home,
    )
    assert result["codes"] == [0, 0]
    assert {"queuectl.cli.enqueue", "queuectl.cli.status"} <= set(result["cli"])
    unrelated = {"queuectl.cli.jobs", "queuectl.cli.schedules", "queuectl.cli.workers", "queuectl.cli.dlq",
                 "queuectl.cli.settings", "queuectl.cli.queues", "queuectl.cli.waiting", "queuectl.cli.tui"}
    assert not unrelated & set(result["cli"]), result["cli"]


def test_every_headless_command_loads_nothing_heavy(home):
    result = run_python(
        """
        codes = {}
        code, out = call("enqueue", "--id", "j1", "echo hi")
        codes["enqueue"] = code
        for args in (["list"], ["list", "--json", "--state", "pending"], ["show", "j1"], ["show", "j1", "--json"],
                     ["logs", "j1"], ["stats"], ["stats", "--json"], ["cancel", "j1"], ["retry", "j1"],
                     ["wait", "j1", "--timeout", "0.1"], ["delete", "j1"], ["purge"], ["dlq", "list"],
                     ["dlq", "retry", "--all"], ["dlq", "purge"], ["pause"], ["resume"], ["config", "list"],
                     ["config", "get", "max_retries"], ["config", "set", "max_retries", "4"],
                     ["config", "reset", "max_retries"], ["worker", "list"], ["worker", "stop"], ["health"], ["--help"],
                     ["enqueue", "--help"], ["--version"], []):
            codes[" ".join(args)], _ = call(*args)
        print(json.dumps({"codes": codes, "heavy": heavy()}))
        """,
        home,
    )
    assert result["heavy"] == []
    assert {k: v for k, v in result["codes"].items() if v != 0} == {"wait j1 --timeout 0.1": 124}


# What `enqueue` and `status` must not pay for at start-up (issue 15: at most 1.6x a minimal enqueue
# script): Peewee (only the model-bound reads of list/show use it), the models, and the worker's side.
NOT_AT_START_UP = ("peewee", "queuectl.core.orm", "queuectl.core.models", "queuectl.core.results",
                   "queuectl.core.worker", "queuectl.core.execution")


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.parametrize("args", [["enqueue", "true"], ["enqueue", "--json", "echo hi"], ["status"],
                                  ["status", "--json"]], ids=["enqueue", "enqueue-json", "status", "status-json"])
def test_enqueue_and_status_do_not_import_peewee(home, store_under_test, args):
    result = run_python(
        f"""
        code, out = call(*{args!r})
        loaded = sorted(m for m in sys.modules if m in {NOT_AT_START_UP!r})
        print(json.dumps({{"code": code, "loaded": loaded}}))
        """,
        home,
        db=store_under_test,
    )
    assert result["code"] == 0
    assert result["loaded"] == [], f"queuectl {' '.join(args)} imported {result['loaded']}"


# Nor what only other commands, or click's optional parts, need: `dataclasses` (the core's door hands out
# NamedTuples), `locale` (imported by gettext when click looks up its --help/--version texts).
NOT_AT_START_UP_SQLITE = ("dataclasses", "locale")


@pytest.mark.parametrize("args", [["enqueue", "true"], ["status"], ["status", "--json"], ["enqueue", "--help"]],
                         ids=["enqueue", "status", "status-json", "enqueue-help"])
def test_enqueue_and_status_do_not_import_dataclasses_nor_locale(home, args):
    result = run_python(
        f"""
        code, out = call(*{args!r})
        loaded = sorted(m for m in sys.modules if m in {NOT_AT_START_UP_SQLITE!r})
        print(json.dumps({{"code": code, "loaded": loaded, "out": out}}))
        """,
        home,
    )
    assert result["code"] == 0
    if "--help" in args:  # the help page itself says "Usage:", "Options:" through gettext: a person is reading
        assert "-h, --help" in result["out"] and "Show this message and exit." in result["out"]
        result["loaded"].remove("locale")
    assert result["loaded"] == [], f"queuectl {' '.join(args)} imported {result['loaded']}"


def test_reads_through_the_models_still_work_after_a_start_up_without_peewee(home):
    """`list` and `show` import Peewee on first use, bound to the store that is already open."""
    result = run_python(
        """
        code, job_id = call("enqueue", "echo hi")
        before = "peewee" in sys.modules
        shown = call("show", job_id.strip(), "--json")
        listed = call("list", "--json")
        print(json.dumps({"before": before, "after": "peewee" in sys.modules, "shown": json.loads(shown[1])["id"],
                          "listed": [j["id"] for j in json.loads(listed[1])], "id": job_id.strip()}))
        """,
        home,
    )
    assert not result["before"] and result["after"]
    assert result["shown"] == result["id"] and result["listed"] == [result["id"]]


@pytest.mark.no_store
def test_core_modules_load_nothing_heavy(home):
    result = run_python(
        """
        import importlib, pkgutil
        import queuectl.core
        names = sorted(m.name for m in pkgutil.walk_packages(queuectl.core.__path__, "queuectl.core."))
        for name in names:
            importlib.import_module(name)
        print(json.dumps({"modules": names, "heavy": heavy()}))
        """,
        home,
    )
    assert result["heavy"] == []
    for expected in ("queuectl.core.queue", "queuectl.core.specs", "queuectl.core.settings", "queuectl.core.db",
                     "queuectl.core.worker", "queuectl.core.supervisor", "queuectl.core.migrations"):
        assert expected in result["modules"]


@pytest.mark.backends("postgresql")
def test_headless_commands_on_postgresql_load_the_driver_only(home, store_under_test):
    result = run_python(
        """
        codes = [call("enqueue", "--id", "j1", "echo hi")[0]]
        codes += [call(*args)[0] for args in (["status"], ["list", "--json"], ["show", "j1"], ["logs", "j1"])]
        print(json.dumps({"codes": codes, "heavy": heavy()}))
        """,
        home,
        db=store_under_test,
    )
    assert result["codes"] == [0] * 5
    assert {m.split(".")[0] for m in result["heavy"]} == {"psycopg2"}


# Nor, beyond that (issue 15's margin): `enqueue` reads no record (records' NamedTuples), `status` runs
# no transition (the state machine, `queue.py`, and the job specs it parses) and reads only the overview
# (counts and workers), not the job and run records nor the door's other views; neither encodes or
# decodes JSON unless something asks for it (--json, a JSON source, a job's env, a stored setting).
OFF_THE_PATH = {
    "enqueue": ("json", "queuectl.core.records"),
    "status": ("json", "queuectl.core.queue", "queuectl.core.specs", "queuectl.core.records", "queuectl.core.views"),
}


@pytest.mark.parametrize("args", [["enqueue", "true"], ["enqueue", "--queue", "io", "--priority", "2", "true"],
                                  ["status"]], ids=["enqueue", "enqueue-flags", "status"])
def test_enqueue_and_status_leave_records_queue_and_json_alone(home, args):
    made = run_python('code, out = call("enqueue", "true"); print(json.dumps({"code": code}))', home)
    assert made["code"] == 0  # the store exists: the command below starts as it does every other time
    result = run_python(
        f"""
        sys.modules.pop("json")  # the prelude's own import: what matters is whether queuectl imports it
        code, out = call(*{args!r})
        loaded = sorted(m for m in sys.modules if m in {OFF_THE_PATH[args[0]]!r})
        print(json.dumps({{"code": code, "loaded": loaded}}))
        """,
        home,
    )
    assert result["code"] == 0
    assert result["loaded"] == [], f"queuectl {' '.join(args)} imported {result['loaded']}"


@pytest.mark.parametrize("own_command_line", [True, False], ids=["process", "call"])
def test_start_up_objects_are_frozen_only_for_the_process_own_command_line(home, own_command_line):
    """`queuectl …` freezes what its start-up made (the collector then skips it: issue 15); `main([...])`
    called from Python, as tests do, leaves the caller's collector alone."""
    result = run_python(
        f"""
        import gc
        from queuectl.cli import main
        sys.argv = ["queuectl", "status"]
        real_out, sys.stdout = sys.stdout, io.StringIO()
        try:
            main() if {own_command_line!r} else main(["status"])
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.stdout = real_out
        print(json.dumps({{"code": code, "frozen": gc.get_freeze_count()}}))
        """,
        home,
    )
    assert result["code"] == 0
    assert (result["frozen"] > 0) is own_command_line
