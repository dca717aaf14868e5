"""Job input (a JSON object, an array, NDJSON, or CLI values) parsed and validated into JobSpec.

Pure: no I/O, no store, no cwd lookup; the current time is passed in. Every refusal is an
InvalidInput subclass whose message names the field (and the job or line, in a bulk).
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each field's string
# annotation at import (records.py says more). The regexes are compiled on first use, not at import:
# `status` never uses them, `enqueue 'CMD'` one or two (issue 15: start-up).

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache, partial
from typing import NamedTuple, TypeGuard

from queuectl.core.errors import DuplicateJob, InvalidInput, InvalidJobSpec, show_value

_job_id_re = cache(partial(re.compile, r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"))
_queue_re = cache(partial(re.compile, r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}"))
_number_re = cache(partial(re.compile, r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"))
_duration_re = cache(partial(re.compile, r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)"))


def __getattr__(name: str) -> re.Pattern[str]:
    """`JOB_ID_RE` and `QUEUE_RE`, the public patterns, compiled when first asked for."""
    if name == "JOB_ID_RE":
        return _job_id_re()
    if name == "QUEUE_RE":
        return _queue_re()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FIELDS = ("id", "command", "max_retries", "priority", "run_at", "timeout", "cwd", "env", "queue", "keep_children",
          "after", "unique", "label", "hold", "on_success", "on_failure", "on_dead")
HOOK_FIELDS = ("on_success", "on_failure", "on_dead")

READ_ONLY_FIELDS = frozenset(
    {
        "state",
        "attempts",
        "created_at",
        "updated_at",
        "started_at",
        "finished_at",
        "next_run_at",
        "last_error",
        "exit_code",
        "worker_id",
        "runs",
        "parent_id",
    }
)

MAX_COMMAND_BYTES = 1024 * 1024
MAX_RETRIES_LIMIT = 10_000
PRIORITY_LIMIT = 1_000_000
MAX_TIMEOUT = 31_536_000
MAX_ENV_ENTRIES = 1000
MAX_DEPENDENCIES = 1000
MAX_LABEL_CHARS = 200
MAX_UNIQUE_CHARS = 256

_EPOCH_MS_THRESHOLD = 10**11
_MAX_EPOCH = 253_402_300_800.0
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ID_RULE = "id: must match [A-Za-z0-9][A-Za-z0-9._:-]{0,127}"


class JobSpec(NamedTuple):
    """A validated job description; None fields are filled by the CLI or the queue at enqueue."""

    command: str
    id: str | None = None
    max_retries: int | None = None
    priority: int = 0
    run_at: float | None = None
    timeout: float | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    queue: str = "default"
    keep_children: bool = False  # processes the job leaves behind outlive it (a daemon on purpose)
    after: tuple[str, ...] = ()  # runs only once each of these jobs completed
    unique: str | None = None  # while a job with this key waits or runs, enqueue returns that job
    label: str | None = None
    hold: bool = False  # never runs until released
    on_success: str | None = None  # hooks: commands enqueued as jobs of their own when this one ends so
    on_failure: str | None = None  # (each failed run)
    on_dead: str | None = None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_text(field: str, value: str) -> int:
    """Refuse NUL bytes and lone surrogates, which no store or exec can carry; the UTF-8 length."""
    if "\x00" in value:
        raise InvalidJobSpec(f"{field}: must not contain a NUL byte")
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidJobSpec(f"{field}: must be valid Unicode text (no lone surrogates)") from None


def validate_job_id(value: object) -> str:
    """Return the id if it is a safe job id (usable in paths and URLs), else refuse it."""
    if not isinstance(value, str) or not _job_id_re().fullmatch(value):
        raise InvalidJobSpec(_ID_RULE)
    if ".." in value:
        raise InvalidJobSpec(f"{_ID_RULE} and must not contain '..'")
    return value


def parse_duration(value: object) -> float:
    """Seconds from 90, 90.5, "90", "30s", "5m", "2h", "1d", "1.5h"; never negative."""
    if _is_number(value):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isnan(seconds) or seconds < 0:
            raise InvalidInput(f"invalid duration {show_value(value)}: must be a number of seconds >= 0")
    elif isinstance(value, str):
        match = _duration_re().fullmatch(value.strip())
        if not match:
            raise InvalidInput(
                f"invalid duration {show_value(value)}: expected seconds or a number with s, m, h or d "
                "(e.g. 90, 30s, 5m, 2h, 1d)"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise InvalidInput(f"invalid duration {show_value(value)}: expected seconds or e.g. 30s, 5m, 2h, 1d")
    if not math.isfinite(seconds):
        raise InvalidInput(f"invalid duration {show_value(value)}: too large")
    return seconds


def _epoch_from_number(number: float, original: object) -> float:
    if not math.isfinite(number):
        raise InvalidJobSpec(f"run_at: must be a finite time, got {show_value(original)}")
    if number > _EPOCH_MS_THRESHOLD:
        number /= 1000.0
    return number


def parse_run_at(value: object, now: float) -> float:
    """UTC epoch seconds from an ISO-8601 time, epoch seconds (or milliseconds), or "+DURATION" from now."""
    if _is_number(value):
        try:
            epoch = _epoch_from_number(float(value), value)
        except OverflowError:
            raise InvalidJobSpec(f"run_at: must be between 1970 and 9999, got {show_value(value)}") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("+"):
            try:
                epoch = now + parse_duration(text[1:])
            except InvalidInput:
                raise InvalidJobSpec(
                    f"run_at: a relative time must be +SECONDS or +N with s, m, h or d (e.g. +5m), "
                    f"got {show_value(value)}"
                ) from None
        elif _number_re().fullmatch(text):
            epoch = _epoch_from_number(float(text), value)
        else:
            epoch = _epoch_from_iso(text, value)
    else:
        raise InvalidJobSpec(
            f"run_at: must be an ISO-8601 time, Unix epoch seconds or +DURATION, got {show_value(value)}"
        )
    if not (math.isfinite(epoch) and 0.0 <= epoch < _MAX_EPOCH):
        raise InvalidJobSpec(f"run_at: must be between 1970 and 9999, got {show_value(value)}")
    return epoch


def _epoch_from_iso(text: str, original: object) -> float:
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise InvalidJobSpec(
            "run_at: must be an ISO-8601 time (e.g. 2026-01-01T12:00:00Z), Unix epoch seconds "
            f"or +DURATION (e.g. +5m), got {show_value(original)}"
        ) from None


def _command(value: object, field: str = "command") -> str:
    if not isinstance(value, str):
        raise InvalidJobSpec(f"{field}: must be a string, got {show_value(value)}")
    if not value.strip():
        raise InvalidJobSpec(f"{field}: must not be empty")
    if _check_text(field, value) > MAX_COMMAND_BYTES:
        raise InvalidJobSpec(f"{field}: must be at most {MAX_COMMAND_BYTES} bytes")
    return value


def hook_command(field: str, value: object) -> str:
    """A hook's shell command, checked as a job's command is (the message names the hook)."""
    return _command(value, field)


def _max_retries(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RETRIES_LIMIT:
        return value
    raise InvalidJobSpec(f"max_retries: must be an integer >= 0 (at most {MAX_RETRIES_LIMIT}), got {show_value(value)}")


def _priority(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and -PRIORITY_LIMIT <= value <= PRIORITY_LIMIT:
        return value
    raise InvalidJobSpec(
        f"priority: must be an integer between {-PRIORITY_LIMIT} and {PRIORITY_LIMIT}, got {show_value(value)}"
    )


def _timeout(value: object) -> float:
    if _is_number(value):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds) and 0.0 <= seconds <= MAX_TIMEOUT:
            return seconds
    raise InvalidJobSpec(
        f"timeout: must be a number of seconds between 0 and {MAX_TIMEOUT} (0 = none), got {show_value(value)}"
    )


def _cwd(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidJobSpec(f"cwd: must be a non-empty path string, got {show_value(value)}")
    _check_text("cwd", value)
    return value


def _env(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidJobSpec(f"env: must be an object of string to string, got {show_value(value)}")
    if len(value) > MAX_ENV_ENTRIES:
        raise InvalidJobSpec(f"env: must have at most {MAX_ENV_ENTRIES} entries, got {len(value)}")
    env: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise InvalidJobSpec(f"env: names must be non-empty strings without '=', got {show_value(key)}")
        _check_text("env", key)
        if not isinstance(val, str):
            raise InvalidJobSpec(f"env: the value of {show_value(key)} must be a string, got {show_value(val)}")
        _check_text("env", val)
        env[key] = val
    return env


def _queue(value: object) -> str:
    if not isinstance(value, str) or not _queue_re().fullmatch(value):
        raise InvalidJobSpec(f"queue: must match [A-Za-z0-9][A-Za-z0-9._:-]{{0,63}}, got {show_value(value)}")
    return value


validate_queue = _queue


def _keep_children(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidJobSpec(f"keep_children: must be true or false, got {show_value(value)}")


def parse_after(value: object) -> tuple[str, ...]:
    """Job ids from a list, or from one string of ids separated by commas (`--after a,b`)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise InvalidJobSpec(f"after: must be a list of job ids, got {show_value(value)}")
    if len(value) > MAX_DEPENDENCIES:
        raise InvalidJobSpec(f"after: at most {MAX_DEPENDENCIES} jobs, got {len(value)}")
    ids: list[str] = []
    for item in value:
        try:
            ids.append(validate_job_id(item))
        except InvalidJobSpec:
            raise InvalidJobSpec(f"after: {show_value(item)} is not a job id") from None
    return tuple(dict.fromkeys(ids))


def _unique(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidJobSpec(f"unique: must be a non-empty string, got {show_value(value)}")
    if len(value) > MAX_UNIQUE_CHARS:
        raise InvalidJobSpec(f"unique: must be at most {MAX_UNIQUE_CHARS} characters")
    _check_text("unique", value)
    return value


def validate_label(value: object) -> str:
    """A label: one line of text, at most MAX_LABEL_CHARS characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidJobSpec(f"label: must be a non-empty string, got {show_value(value)}")
    if len(value) > MAX_LABEL_CHARS:
        raise InvalidJobSpec(f"label: must be at most {MAX_LABEL_CHARS} characters")
    if "\n" in value or "\r" in value:
        raise InvalidJobSpec("label: must be one line")
    _check_text("label", value)
    return value


def _hold(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidJobSpec(f"hold: must be true or false, got {show_value(value)}")


# Each field's validator; run_at's also needs `now`.
_CHECKS: dict[str, Callable[[object], object]] = {
    "command": _command, "id": validate_job_id, "max_retries": _max_retries, "priority": _priority,
    "timeout": _timeout, "cwd": _cwd, "env": _env, "queue": _queue,
    "keep_children": _keep_children, "after": parse_after, "unique": _unique, "label": validate_label,
    "hold": _hold,
    "on_success": lambda v: hook_command("on_success", v),
    "on_failure": lambda v: hook_command("on_failure", v),
    "on_dead": lambda v: hook_command("on_dead", v),
}


EDITABLE_FIELDS = ("command", "priority", "queue", "timeout", "max_retries", "env", "run_at", "label")


def edit_fields(changes: Mapping[str, object], now: float) -> dict[str, object]:
    """Validate the changes `edit` makes to a waiting job (field -> new value, as in a job object)."""
    if not changes:
        raise InvalidJobSpec(f"nothing to change (fields: {', '.join(EDITABLE_FIELDS)})")
    checked: dict[str, object] = {}
    for key, value in changes.items():
        if key not in EDITABLE_FIELDS:
            raise InvalidJobSpec(f"{key}: cannot be edited (fields: {', '.join(EDITABLE_FIELDS)})")
        checked[key] = parse_run_at(value, now) if key == "run_at" else _CHECKS[key](value)
    return checked


def _unknown_field(key: object) -> InvalidJobSpec:
    known = ", ".join(FIELDS)
    if key in READ_ONLY_FIELDS:
        return InvalidJobSpec(
            f"unknown field {show_value(key)}: a job's state, attempts and times are kept by the queue "
            f"(known: {known})"
        )
    return InvalidJobSpec(f"unknown field {show_value(key)} (known: {known})")


def spec_from_mapping(obj: object, now: float, defaults: Mapping[str, object] | None = None) -> JobSpec:
    """Validate one job object (as decoded from JSON); a null optional field means its default.

    `defaults` (e.g. from command-line flags) fill the fields the object leaves absent or null.
    """
    if not isinstance(obj, dict):
        raise InvalidJobSpec("a job must be a JSON object")
    if defaults:
        obj = {**defaults, **{k: v for k, v in obj.items() if v is not None}}
    for key in obj:
        if key not in FIELDS:
            raise _unknown_field(key)
    if obj.get("command") is None:
        raise InvalidJobSpec("command: required")
    # Only the fields present are checked, in the object's own order (a bulk job is mostly a command).
    fields = {key: _CHECKS[key](value) if key != "run_at" else parse_run_at(value, now)
              for key, value in obj.items() if value is not None}
    return JobSpec(**fields)  # type: ignore[arg-type]  # each value was checked by its field's _CHECKS entry


def _decode(text: str) -> object:
    """json.loads, with deep nesting and over-long numbers reported as malformed JSON too."""
    import json  # here, not at the top: a plain command's enqueue never decodes JSON (start-up, issue 15)

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise InvalidJobSpec("malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise InvalidJobSpec(f"malformed JSON: {exc}") from None


def _located(where: str, exc: InvalidInput) -> InvalidInput:
    return type(exc)(f"{where}: {exc}")


def _parse_ndjson(text: str, now: float, defaults: Mapping[str, object] | None) -> list[JobSpec]:
    import json

    lines = [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]
    try:
        # One decode of all lines as an array is 4x faster than a decode per line; a bad line
        # fails it, and the line-by-line pass below then says which line and why.
        objects = json.loads("[" + ",".join(line for _, line in lines) + "]")
    except (ValueError, RecursionError):
        objects = None
    if objects is not None and len(objects) == len(lines):
        specs = []
        for (number, _), obj in zip(lines, objects, strict=True):
            try:
                specs.append(spec_from_mapping(obj, now, defaults))
            except InvalidInput as exc:
                raise _located(f"line {number}", exc) from None
        return specs
    specs = []
    for number, line in lines:
        try:
            obj = _decode(line)
        except json.JSONDecodeError as exc:
            raise InvalidJobSpec(f"line {number}: malformed JSON: {exc.msg} (column {exc.colno})") from None
        except InvalidInput as exc:
            raise _located(f"line {number}", exc) from None
        try:
            specs.append(spec_from_mapping(obj, now, defaults))
        except InvalidInput as exc:
            raise _located(f"line {number}", exc) from None
    return specs


def _refuse_duplicate_ids(specs: list[JobSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.id is None:
            continue
        if spec.id in seen:
            raise DuplicateJob(f"duplicate id in input: {spec.id}")
        seen.add(spec.id)


def parse_jobs_text(text: str, now: float, defaults: Mapping[str, object] | None = None) -> list[JobSpec]:
    """Jobs from one JSON object, a JSON array of objects, or NDJSON (one object per non-blank line);
    `defaults` fill the fields each job leaves unset."""
    if not isinstance(text, str):
        raise InvalidJobSpec("jobs must be given as JSON text")
    import json

    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InvalidJobSpec("no jobs given")
    try:
        decoded = _decode(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            specs = _parse_ndjson(text, now, defaults)
        else:
            raise InvalidJobSpec(
                f"malformed JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
            ) from None
    else:
        if isinstance(decoded, dict):
            specs = [spec_from_mapping(decoded, now, defaults)]
        elif isinstance(decoded, list):
            if not decoded:
                raise InvalidJobSpec("no jobs given")
            specs = []
            for number, item in enumerate(decoded, start=1):
                try:
                    specs.append(spec_from_mapping(item, now, defaults))
                except InvalidInput as exc:
                    raise _located(f"job {number}", exc) from None
        else:
            raise InvalidJobSpec(
                "expected a JSON object, a JSON array of objects, or one object per line (NDJSON)"
            )
    _refuse_duplicate_ids(specs)
    return specs
