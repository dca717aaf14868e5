"""Job input parsing: every field rule, the bulk formats, and that bad input only ever raises InvalidInput."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queuectl.core.errors import DuplicateJob, InvalidInput, InvalidJobSpec
from queuectl.core.specs import (
    FIELDS,
    JOB_ID_RE,
    QUEUE_RE,
    JobSpec,
    parse_duration,
    parse_jobs_text,
    parse_run_at,
    spec_from_mapping,
    validate_job_id,
)

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FAST = settings(max_examples=200, deadline=None, database=None)


def job(**fields: object) -> dict[str, object]:
    return {"command": "echo hi", **fields}


# --- spec_from_mapping: valid --------------------------------------------------------------------

VALID = [
    pytest.param(job(), JobSpec(command="echo hi"), id="command-only"),
    pytest.param(
        {
            "id": "build-42",
            "command": "make",
            "max_retries": 5,
            "priority": -3,
            "run_at": "2026-01-02T00:00:00Z",
            "timeout": 90.5,
            "cwd": "/srv/app",
            "env": {"A": "1", "B": ""},
            "queue": "io.slow",
        },
        JobSpec(
            command="make",
            id="build-42",
            max_retries=5,
            priority=-3,
            run_at=NOW + 86_400,
            timeout=90.5,
            cwd="/srv/app",
            env={"A": "1", "B": ""},
            queue="io.slow",
        ),
        id="every-field",
    ),
    pytest.param(job(max_retries=0), JobSpec(command="echo hi", max_retries=0), id="max_retries-zero"),
    pytest.param(job(max_retries=10_000), JobSpec(command="echo hi", max_retries=10_000), id="max_retries-max"),
    pytest.param(job(priority=1_000_000), JobSpec(command="echo hi", priority=1_000_000), id="priority-max"),
    pytest.param(job(priority=-1_000_000), JobSpec(command="echo hi", priority=-1_000_000), id="priority-min"),
    pytest.param(job(timeout=0), JobSpec(command="echo hi", timeout=0.0), id="timeout-zero-means-none"),
    pytest.param(job(timeout=31_536_000), JobSpec(command="echo hi", timeout=31_536_000.0), id="timeout-a-year"),
    pytest.param(job(run_at=NOW), JobSpec(command="echo hi", run_at=NOW), id="run_at-epoch-seconds"),
    pytest.param(job(run_at=NOW * 1000), JobSpec(command="echo hi", run_at=NOW), id="run_at-epoch-ms"),
    pytest.param(job(run_at="+5m"), JobSpec(command="echo hi", run_at=NOW + 300), id="run_at-relative"),
    pytest.param(job(cwd="rel/dir"), JobSpec(command="echo hi", cwd="rel/dir"), id="cwd-relative"),
    pytest.param(job(env={}), JobSpec(command="echo hi", env={}), id="env-empty"),
    pytest.param(job(id="a:b.c_d-e"), JobSpec(command="echo hi", id="a:b.c_d-e"), id="id-punctuation"),
    pytest.param(job(command="  ls  "), JobSpec(command="  ls  "), id="command-kept-verbatim"),
    pytest.param(job(keep_children=True), JobSpec(command="echo hi", keep_children=True), id="keep_children-true"),
    pytest.param(job(keep_children=False), JobSpec(command="echo hi"), id="keep_children-false"),
    pytest.param(job(keep_children=None), JobSpec(command="echo hi"), id="keep_children-null-means-false"),
    pytest.param(job(command="echo 'héllo ✓'"), JobSpec(command="echo 'héllo ✓'"), id="command-unicode"),
    pytest.param(
        job(id=None, max_retries=None, priority=None, run_at=None, timeout=None, cwd=None, env=None, queue=None),
        JobSpec(command="echo hi"),
        id="null-optional-fields-mean-default",
    ),
]


@pytest.mark.parametrize(("obj", "expected"), VALID)
def test_valid_mapping(obj: dict[str, object], expected: JobSpec) -> None:
    assert spec_from_mapping(obj, NOW) == expected


def test_env_is_copied() -> None:
    env = {"A": "1"}
    spec = spec_from_mapping(job(env=env), NOW)
    env["A"] = "2"
    assert spec.env == {"A": "1"}


# --- spec_from_mapping: invalid ------------------------------------------------------------------

INVALID = [
    pytest.param({}, "command: required", id="command-missing"),
    pytest.param({"command": None}, "command: required", id="command-null"),
    pytest.param({"command": ""}, "command: must not be empty", id="command-empty"),
    pytest.param({"command": " \t\n"}, "command: must not be empty", id="command-whitespace"),
    pytest.param({"command": "echo \x00"}, "command: must not contain a NUL", id="command-nul"),
    pytest.param({"command": "x" * (1024 * 1024 + 1)}, "command: must be at most", id="command-too-long"),
    pytest.param({"command": "é" * (512 * 1024 + 1)}, "command: must be at most", id="command-too-long-in-bytes"),
    pytest.param({"command": "\ud800"}, "command: must be valid Unicode", id="command-lone-surrogate"),
    pytest.param({"command": 42}, "command: must be a string", id="command-number"),
    pytest.param({"command": ["ls", "-l"]}, "command: must be a string", id="command-list"),
    pytest.param(job(frobnicate=1), "unknown field 'frobnicate' (known: id, command,", id="unknown-field"),
    pytest.param(job(state="completed"), "unknown field 'state'", id="state-refused"),
    pytest.param(job(attempts=0), "unknown field 'attempts'", id="attempts-refused"),
    pytest.param(job(created_at=NOW), "unknown field 'created_at'", id="created_at-refused"),
    pytest.param(job(Command="x"), "unknown field 'Command'", id="field-names-are-case-sensitive"),
    pytest.param(job(max_retries=-1), "max_retries: must be an integer >= 0", id="max_retries-negative"),
    pytest.param(job(max_retries=10_001), "max_retries: must be an integer", id="max_retries-too-big"),
    pytest.param(job(max_retries=2.5), "max_retries: must be an integer", id="max_retries-fraction"),
    pytest.param(job(max_retries=3.0), "max_retries: must be an integer", id="max_retries-float"),
    pytest.param(job(max_retries="3"), "max_retries: must be an integer", id="max_retries-numeric-string"),
    pytest.param(job(max_retries=True), "max_retries: must be an integer", id="max_retries-bool"),
    pytest.param(job(priority=1.5), "priority: must be an integer", id="priority-fraction"),
    pytest.param(job(priority="high"), "priority: must be an integer", id="priority-string"),
    pytest.param(job(priority="5"), "priority: must be an integer", id="priority-numeric-string"),
    pytest.param(job(priority=False), "priority: must be an integer", id="priority-bool"),
    pytest.param(job(priority=1_000_001), "priority: must be an integer", id="priority-too-big"),
    pytest.param(job(priority=-1_000_001), "priority: must be an integer", id="priority-too-small"),
    pytest.param(job(priority=10**400), "priority: must be an integer", id="priority-huge"),
    pytest.param(job(run_at="next tuesday"), "run_at: must be an ISO-8601 time", id="run_at-garbage"),
    pytest.param(job(run_at="nan"), "run_at:", id="run_at-nan-string"),
    pytest.param(job(run_at=math.nan), "run_at: must be a finite", id="run_at-nan"),
    pytest.param(job(run_at=math.inf), "run_at: must be a finite", id="run_at-inf"),
    pytest.param(job(run_at=True), "run_at:", id="run_at-bool"),
    pytest.param(job(run_at=-1), "run_at: must be between 1970 and 9999", id="run_at-before-1970"),
    pytest.param(job(run_at="+soon"), "run_at: a relative time", id="run_at-bad-relative"),
    pytest.param(job(run_at=[NOW]), "run_at:", id="run_at-list"),
    pytest.param(job(timeout=-1), "timeout: must be a number", id="timeout-negative"),
    pytest.param(job(timeout=31_536_001), "timeout: must be a number", id="timeout-over-a-year"),
    pytest.param(job(timeout=math.nan), "timeout: must be a number", id="timeout-nan"),
    pytest.param(job(timeout=math.inf), "timeout: must be a number", id="timeout-inf"),
    pytest.param(job(timeout="30"), "timeout: must be a number", id="timeout-string"),
    pytest.param(job(timeout=True), "timeout: must be a number", id="timeout-bool"),
    pytest.param(job(cwd=""), "cwd: must be a non-empty", id="cwd-empty"),
    pytest.param(job(cwd=7), "cwd: must be a non-empty", id="cwd-number"),
    pytest.param(job(cwd="/tmp/\x00"), "cwd: must not contain a NUL", id="cwd-nul"),
    pytest.param(job(env=["A=1"]), "env: must be an object", id="env-list"),
    pytest.param(job(env="A=1"), "env: must be an object", id="env-string"),
    pytest.param(job(env={"A": 1}), "env: the value of 'A' must be a string", id="env-number-value"),
    pytest.param(job(env={"A": None}), "env: the value of 'A' must be a string", id="env-null-value"),
    pytest.param(job(env={"": "x"}), "env: names must be non-empty", id="env-empty-name"),
    pytest.param(job(env={"A=B": "x"}), "env: names must be non-empty strings without '='", id="env-name-with-equals"),
    pytest.param(job(env={"A\x00": "x"}), "env: must not contain a NUL", id="env-name-nul"),
    pytest.param(job(env={"A": "x\x00"}), "env: must not contain a NUL", id="env-value-nul"),
    pytest.param(job(env={f"K{i}": "v" for i in range(1001)}), "env: must have at most 1000", id="env-too-many"),
    pytest.param(job(queue=""), "queue: must match", id="queue-empty"),
    pytest.param(job(queue="a b"), "queue: must match", id="queue-space"),
    pytest.param(job(queue="-q"), "queue: must match", id="queue-leading-dash"),
    pytest.param(job(queue="q" * 65), "queue: must match", id="queue-too-long"),
    pytest.param(job(queue=1), "queue: must match", id="queue-number"),
    pytest.param(job(id="a/b"), "id: must match", id="id-slash"),
    pytest.param(job(id=".."), "id: must match", id="id-dotdot"),
    pytest.param(job(id="a..b"), "id: must match", id="id-contains-dotdot"),
    pytest.param(job(id="my job"), "id: must match", id="id-space"),
    pytest.param(job(id=""), "id: must match", id="id-empty"),
    pytest.param(job(id=42), "id: must match", id="id-number"),
    pytest.param(job(keep_children=1), "keep_children: must be true or false", id="keep_children-number"),
    pytest.param(job(keep_children="yes"), "keep_children: must be true or false", id="keep_children-string"),
]


@pytest.mark.parametrize(("obj", "message"), INVALID)
def test_invalid_mapping(obj: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        spec_from_mapping(obj, NOW)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("obj", [None, [], "echo hi", 42, [{"command": "x"}]], ids=repr)
def test_non_object_is_refused(obj: object) -> None:
    with pytest.raises(InvalidJobSpec, match="^a job must be a JSON object$"):
        spec_from_mapping(obj, NOW)


def test_unknown_field_lists_every_known_field() -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        spec_from_mapping(job(nope=1), NOW)
    assert f"(known: {', '.join(FIELDS)})" in str(caught.value)


def test_read_only_fields_say_why() -> None:
    with pytest.raises(InvalidJobSpec, match="kept by the queue"):
        spec_from_mapping(job(state="pending"), NOW)


def test_unknown_field_is_reported_before_field_errors() -> None:
    with pytest.raises(InvalidJobSpec, match="unknown field 'attempts'"):
        spec_from_mapping({"command": "", "attempts": 3}, NOW)


# --- validate_job_id -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("a", id="one-char"),
        pytest.param("0", id="digit"),
        pytest.param("a" * 128, id="max-length"),
        pytest.param("job-1.retry_2:x", id="all-punctuation"),
        pytest.param("a.b", id="single-dot"),
    ],
)
def test_valid_job_id(value: str) -> None:
    assert validate_job_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("a" * 129, id="too-long"),
        pytest.param("a/b", id="slash"),
        pytest.param("/etc", id="leading-slash"),
        pytest.param("..", id="dotdot"),
        pytest.param("a..b", id="inner-dotdot"),
        pytest.param("a/../b", id="traversal"),
        pytest.param(".hidden", id="leading-dot"),
        pytest.param("-rf", id="leading-dash"),
        pytest.param("a b", id="space"),
        pytest.param("a\n", id="trailing-newline"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("é", id="non-ascii"),
        pytest.param(None, id="none"),
        pytest.param(12, id="int"),
        pytest.param(b"abc", id="bytes"),
    ],
)
def test_invalid_job_id(value: object) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        validate_job_id(value)
    assert str(caught.value).startswith("id: must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


# --- parse_run_at --------------------------------------------------------------------------------

RUN_AT_VALID = [
    pytest.param("2026-01-01T00:00:00Z", NOW, id="iso-Z"),
    pytest.param("2026-01-01T00:00:00", NOW, id="iso-no-offset-is-utc"),
    pytest.param("2026-01-01T02:00:00+02:00", NOW, id="iso-with-offset"),
    pytest.param("2025-12-31T19:00:00-05:00", NOW, id="iso-negative-offset"),
    pytest.param("2026-01-01 00:00:00", NOW, id="iso-space-separator"),
    pytest.param("2026-01-01T00:00:00.250Z", NOW + 0.25, id="iso-fraction"),
    pytest.param("2026-01-01", NOW, id="date-only"),
    pytest.param("  2026-01-01T00:00Z  ", NOW, id="iso-surrounding-space"),
    pytest.param(NOW, NOW, id="epoch-float"),
    pytest.param(int(NOW), NOW, id="epoch-int"),
    pytest.param("1767225600", NOW, id="epoch-string"),
    pytest.param("1767225600.5", NOW + 0.5, id="epoch-string-fraction"),
    pytest.param(1_767_225_600_000, NOW, id="epoch-ms"),
    pytest.param("1767225600000", NOW, id="epoch-ms-string"),
    pytest.param(10**11, 1e11, id="threshold-is-still-seconds"),
    pytest.param(0, 0.0, id="epoch-zero"),
    pytest.param("+90", NOW + 90, id="relative-bare-seconds"),
    pytest.param("+30s", NOW + 30, id="relative-seconds"),
    pytest.param("+5m", NOW + 300, id="relative-minutes"),
    pytest.param("+2h", NOW + 7200, id="relative-hours"),
    pytest.param("+1d", NOW + 86_400, id="relative-days"),
    pytest.param("+1.5h", NOW + 5400, id="relative-fraction"),
    pytest.param("9999-12-31T23:59:59Z", 253_402_300_799.0, id="last-second-of-9999"),
]


@pytest.mark.parametrize(("value", "expected"), RUN_AT_VALID)
def test_parse_run_at(value: object, expected: float) -> None:
    assert parse_run_at(value, NOW) == pytest.approx(expected)


RUN_AT_INVALID = [
    pytest.param("garbage", "run_at: must be an ISO-8601 time", id="garbage"),
    pytest.param("", "run_at: must be an ISO-8601 time", id="empty"),
    pytest.param("2026-13-01", "run_at: must be an ISO-8601 time", id="month-13"),
    pytest.param("2026-02-30T00:00:00Z", "run_at: must be an ISO-8601 time", id="feb-30"),
    pytest.param("nan", "run_at:", id="nan-string"),
    pytest.param("inf", "run_at:", id="inf-string"),
    pytest.param(math.nan, "run_at: must be a finite time", id="nan"),
    pytest.param(-math.inf, "run_at: must be a finite time", id="minus-inf"),
    pytest.param("1e400", "run_at: must be a finite time", id="overflowing-string"),
    pytest.param(10**400, "run_at: must be between 1970 and 9999", id="huge-int"),
    pytest.param(True, "run_at:", id="bool"),
    pytest.param(None, "run_at:", id="none"),
    pytest.param({"at": 1}, "run_at:", id="object"),
    pytest.param(-1, "run_at: must be between 1970 and 9999", id="negative-epoch"),
    pytest.param("1969-12-31T23:59:59Z", "run_at: must be between 1970 and 9999", id="before-1970"),
    pytest.param("0001-01-01", "run_at: must be between 1970 and 9999", id="year-1"),
    pytest.param(10**15, "run_at: must be between 1970 and 9999", id="ms-beyond-9999"),
    pytest.param("+", "run_at: a relative time", id="relative-empty"),
    pytest.param("+-5m", "run_at: a relative time", id="relative-negative"),
    pytest.param("+5y", "run_at: a relative time", id="relative-unknown-unit"),
    pytest.param("+1e400", "run_at: a relative time", id="relative-garbage-exponent"),
]


@pytest.mark.parametrize(("value", "message"), RUN_AT_INVALID)
def test_parse_run_at_invalid(value: object, message: str) -> None:
    with pytest.raises(InvalidJobSpec) as caught:
        parse_run_at(value, NOW)
    assert str(caught.value).startswith(message)


def test_relative_run_at_beyond_9999_is_refused() -> None:
    with pytest.raises(InvalidJobSpec, match="between 1970 and 9999"):
        parse_run_at("+1", 253_402_300_799.5)


# --- parse_duration ------------------------------------------------------------------------------

DURATION_VALID = [
    pytest.param("90", 90.0, id="bare-string"),
    pytest.param(90, 90.0, id="int"),
    pytest.param(90.5, 90.5, id="float"),
    pytest.param(0, 0.0, id="zero"),
    pytest.param("0", 0.0, id="zero-string"),
    pytest.param("30s", 30.0, id="seconds"),
    pytest.param("5m", 300.0, id="minutes"),
    pytest.param("2h", 7200.0, id="hours"),
    pytest.param("1d", 86_400.0, id="days"),
    pytest.param("7d", 604_800.0, id="week-in-days"),
    pytest.param("1.5h", 5400.0, id="fraction-hours"),
    pytest.param(".5m", 30.0, id="leading-dot"),
    pytest.param(" 5 m ", 300.0, id="spaces"),
]


@pytest.mark.parametrize(("value", "expected"), DURATION_VALID)
def test_parse_duration(value: object, expected: float) -> None:
    result = parse_duration(value)
    assert result == expected
    assert isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("-5", id="negative-string"),
        pytest.param(-5, id="negative"),
        pytest.param(-0.1, id="negative-fraction"),
        pytest.param("5y", id="unknown-unit"),
        pytest.param("5 minutes", id="word-unit"),
        pytest.param("m", id="unit-only"),
        pytest.param("1h30m", id="compound"),
        pytest.param("nan", id="nan-string"),
        pytest.param(math.nan, id="nan"),
        pytest.param(math.inf, id="inf"),
        pytest.param("9" * 400 + "d", id="overflows-to-inf"),
        pytest.param(10**400, id="huge-int"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
        pytest.param([5], id="list"),
    ],
)
def test_parse_duration_invalid(value: object) -> None:
    with pytest.raises(InvalidInput, match="^invalid duration"):
        parse_duration(value)


# --- parse_jobs_text -----------------------------------------------------------------------------


def test_single_object() -> None:
    assert parse_jobs_text('{"command": "echo hi", "priority": 2}', NOW) == [
        JobSpec(command="echo hi", priority=2)
    ]


def test_pretty_printed_object() -> None:
    text = '{\n  "command": "echo hi",\n  "id": "a"\n}\n'
    assert parse_jobs_text(text, NOW) == [JobSpec(command="echo hi", id="a")]


def test_array_keeps_order() -> None:
    text = json.dumps([{"command": "a"}, {"command": "b", "id": "x"}, {"command": "c"}])
    assert [s.command for s in parse_jobs_text(text, NOW)] == ["a", "b", "c"]


def test_ndjson_skips_blank_lines() -> None:
    text = '{"command": "a"}\n\n   \n{"command": "b"}\r\n{"command": "c"}\n'
    assert [s.command for s in parse_jobs_text(text, NOW)] == ["a", "b", "c"]


def test_ndjson_line_separator_inside_a_string_is_not_a_line_break() -> None:
    text = '{"command": "echo \u2028"}\n{"command": "b"}'
    assert [s.command for s in parse_jobs_text(text, NOW)] == ["echo \u2028", "b"]


def test_utf8_bom_is_ignored() -> None:
    assert parse_jobs_text('\ufeff{"command": "a"}', NOW) == [JobSpec(command="a")]


def test_ids_may_be_absent_in_several_jobs() -> None:
    assert len(parse_jobs_text('[{"command": "a"}, {"command": "a"}]', NOW)) == 2


BULK_INVALID = [
    pytest.param("", InvalidJobSpec, "no jobs given", id="empty"),
    pytest.param("  \n\t\n", InvalidJobSpec, "no jobs given", id="whitespace"),
    pytest.param("[]", InvalidJobSpec, "no jobs given", id="empty-array"),
    pytest.param(
        '{"command": "a",}', InvalidJobSpec, "malformed JSON: Expecting property name", id="trailing-comma"
    ),
    pytest.param('{"command": "a"', InvalidJobSpec, "malformed JSON: ", id="unterminated-object"),
    pytest.param("echo hi", InvalidJobSpec, "malformed JSON: Expecting value (line 1 column 1)", id="not-json"),
    pytest.param(
        '{\n  "command": "a"\n  "id": "b"\n}',
        InvalidJobSpec,
        "malformed JSON: Expecting ',' delimiter (line 3 column 3)",
        id="pretty-printed-error-has-line-and-column",
    ),
    pytest.param('[{"command": "a"}] [', InvalidJobSpec, "malformed JSON: Extra data", id="array-then-junk"),
    pytest.param("[" * 100_000, InvalidJobSpec, "malformed JSON", id="deeply-nested"),
    pytest.param('"echo hi"', InvalidJobSpec, "expected a JSON object", id="json-string"),
    pytest.param("42", InvalidJobSpec, "expected a JSON object", id="json-number"),
    pytest.param("null", InvalidJobSpec, "expected a JSON object", id="json-null"),
    pytest.param("[1, 2]", InvalidJobSpec, "job 1: a job must be a JSON object", id="array-of-numbers"),
    pytest.param('["echo hi"]', InvalidJobSpec, "job 1: a job must be a JSON object", id="array-of-strings"),
    pytest.param(
        '[{"command": "a"}, [{"command": "b"}]]',
        InvalidJobSpec,
        "job 2: a job must be a JSON object",
        id="nested-array",
    ),
    pytest.param(
        '[{"command": "a"}, {"command": "b"}, {"command": ""}]',
        InvalidJobSpec,
        "job 3: command: must not be empty",
        id="array-bad-third-job",
    ),
    pytest.param(
        '[{"command": "a"}, {"command": "b", "state": "dead"}]',
        InvalidJobSpec,
        "job 2: unknown field 'state'",
        id="array-state-refused",
    ),
    pytest.param('{"command": "a", "attempts": 2}', InvalidJobSpec, "unknown field 'attempts'", id="object-attempts"),
    pytest.param(
        '[{"command": "a", "id": "x"}, {"command": "b", "id": "x"}]',
        DuplicateJob,
        "duplicate id in input: x",
        id="array-duplicate-id",
    ),
    pytest.param(
        '{"command": "a", "id": "x"}\n{"command": "b", "id": "y"}\n{"command": "c", "id": "x"}',
        DuplicateJob,
        "duplicate id in input: x",
        id="ndjson-duplicate-id",
    ),
    pytest.param(
        '{"command": "a"}\n{"command": "b"}\n{"command": "c", "max_retries": -1}',
        InvalidJobSpec,
        "line 3: max_retries: must be an integer >= 0",
        id="ndjson-bad-field-line-3",
    ),
    pytest.param(
        '{"command": "a"}\n\n{"command": "b", "priority": "x"}',
        InvalidJobSpec,
        "line 3: priority:",
        id="ndjson-line-numbers-count-blank-lines",
    ),
    pytest.param(
        '{"command": "a"}\n{"command": "b"}\n{"command": "c",',
        InvalidJobSpec,
        "line 3: malformed JSON: ",
        id="ndjson-malformed-line-3",
    ),
    pytest.param(
        '{"command": "a"}\n[1]',
        InvalidJobSpec,
        "line 2: a job must be a JSON object",
        id="ndjson-array-line",
    ),
    pytest.param(
        '{"command": "a"}\n42',
        InvalidJobSpec,
        "line 2: a job must be a JSON object",
        id="ndjson-number-line",
    ),
    pytest.param(
        '{"command": "a"} {"command": "b"}',
        InvalidJobSpec,
        "line 1: malformed JSON: Extra data",
        id="two-objects-one-line",
    ),
    pytest.param(
        '{"command": "a", "id": "a/b"}\n{"command": "b"}', InvalidJobSpec, "line 1: id: must match", id="ndjson-bad-id"
    ),
]


@pytest.mark.parametrize(("text", "error", "message"), BULK_INVALID)
def test_parse_jobs_text_invalid(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse_jobs_text(text, NOW)
    assert type(caught.value) is error
    assert str(caught.value).startswith(message)


def test_duplicate_id_message_is_exact() -> None:
    with pytest.raises(DuplicateJob, match=r"^duplicate id in input: j-1$"):
        parse_jobs_text('{"command": "a", "id": "j-1"}\n{"command": "b", "id": "j-1"}', NOW)


def test_malformed_json_message_shape() -> None:
    with pytest.raises(InvalidJobSpec, match=r"^malformed JSON: .+ \(line \d+ column \d+\)$"):
        parse_jobs_text('{"command": }', NOW)


# --- properties ----------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(FIELDS) | st.sampled_from(["state", "attempts", "created_at"]) | st.text(max_size=8)
job_mappings = st.dictionaries(field_names, json_values, max_size=6)
run_at_texts = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\+[0-9.]{0,6}[smhdx]?", fullmatch=True),
    st.from_regex(r"-?[0-9]{0,16}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.datetimes().map(lambda d: d.isoformat()),
)


@FAST
@given(obj=json_values | job_mappings)
def test_spec_from_mapping_only_raises_invalid_input(obj: object) -> None:
    try:
        spec = spec_from_mapping(obj, NOW)
    except InvalidInput:
        return
    assert isinstance(spec, JobSpec)
    assert isinstance(spec.command, str) and spec.command.strip()


@FAST
@given(text=st.text(max_size=200) | json_values.map(json.dumps))
def test_parse_jobs_text_only_raises_invalid_input(text: str) -> None:
    try:
        specs = parse_jobs_text(text, NOW)
    except InvalidInput:
        return
    assert specs and all(isinstance(s, JobSpec) for s in specs)


@FAST
@given(objs=st.lists(job_mappings | json_values, min_size=1, max_size=5), ndjson=st.booleans())
def test_parse_jobs_text_bulk_only_raises_invalid_input(objs: list[object], ndjson: bool) -> None:
    text = "\n".join(json.dumps(o) for o in objs) if ndjson else json.dumps(objs)
    try:
        specs = parse_jobs_text(text, NOW)
    except InvalidInput:
        return
    assert len(specs) == len(objs)


@FAST
@given(value=json_values | run_at_texts)
def test_parse_run_at_only_raises_invalid_input(value: object) -> None:
    try:
        result = parse_run_at(value, NOW)
    except InvalidInput as exc:
        assert str(exc).startswith("run_at: ")
        return
    assert math.isfinite(result) and 0 <= result < 253_402_300_800


@FAST
@given(value=json_values | st.from_regex(r"[0-9.]{0,8}\s*[smhdy]?", fullmatch=True))
def test_parse_duration_only_raises_invalid_input(value: object) -> None:
    try:
        result = parse_duration(value)
    except InvalidInput:
        return
    assert math.isfinite(result) and result >= 0


@FAST
@given(value=st.integers(min_value=0, max_value=10_000), priority=st.integers(-1_000_000, 1_000_000))
def test_in_range_integers_round_trip(value: int, priority: int) -> None:
    spec = spec_from_mapping(job(max_retries=value, priority=priority), NOW)
    assert (spec.max_retries, spec.priority) == (value, priority)


@FAST
@given(job_id=st.text(max_size=140))
def test_valid_ids_are_exactly_the_safe_ones(job_id: str) -> None:
    safe = JOB_ID_RE.fullmatch(job_id) is not None and ".." not in job_id
    try:
        validate_job_id(job_id)
    except InvalidJobSpec:
        assert not safe
    else:
        assert safe


@FAST
@given(seconds=st.floats(min_value=0, max_value=10**11))
def test_epoch_seconds_round_trip(seconds: float) -> None:
    assert parse_run_at(seconds, NOW) == seconds


def test_queue_regex_bounds() -> None:
    assert QUEUE_RE.fullmatch("q" * 64)
    assert not QUEUE_RE.fullmatch("q" * 65)
