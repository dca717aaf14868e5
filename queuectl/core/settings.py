"""The settings kept in the store: their keys, defaults, ranges and validation.

Pure: reading and writing them is the store's job; this module only says what is valid.
"""

# No `from __future__ import annotations`: typing.NamedTuple would compile each field's string
# annotation at import (records.py says more). Regexes compiled on first use (start-up, issue 15).

import math
import re
from collections.abc import Mapping
from functools import cache, partial
from typing import NamedTuple

from queuectl.core.errors import InvalidInput, InvalidSetting, show_value


class SettingDef(NamedTuple):
    """One setting: its default, its type (int or float) and its inclusive range."""

    key: str
    default: int | float
    kind: type
    minimum: float
    maximum: float
    help: str
    duration: bool = False  # also takes 90s, 5m, 2h, 7d


SETTINGS: dict[str, SettingDef] = {
    d.key: d
    for d in (
        SettingDef("max_retries", 3, int, 0, 10_000, "default for jobs that do not set it"),
        SettingDef("backoff_base", 2.0, float, 1, 1000, "retry delay is backoff_base ** attempts seconds"),
        SettingDef("backoff_max", 3600.0, float, 0, 31_536_000, "cap on one retry delay, seconds"),
        SettingDef("job_timeout", 0.0, float, 0, 31_536_000, "default timeout, seconds; 0 = none"),
        SettingDef(
            "poll_interval",
            1.0,
            float,
            0.01,
            3600,
            "longest an idle worker waits before looking for work again, seconds",
        ),
        SettingDef(
            "worker_timeout", 30.0, float, 2, 86_400, "a worker silent this long is lost; its job is recovered"
        ),
        SettingDef("kill_grace", 5.0, float, 0, 3600, "seconds between SIGTERM and SIGKILL when a job is killed"),
        # at most what both stores hold in one value: SQLite refuses a blob over 1,000,000,000 bytes
        SettingDef("log_max_bytes", 1_048_576, int, 1024, 999_000_000, "output kept per run"),
        # retention: pruned by the workers' maintenance, in small batches (core/retention.py)
        SettingDef("keep_completed", 0.0, float, 0, 3_153_600_000,
                   "age after which completed jobs are deleted (e.g. 7d); 0 = forever", True),
        SettingDef("keep_dead", 0.0, float, 0, 3_153_600_000,
                   "age after which dead jobs are deleted (e.g. 30d); 0 = forever", True),
        SettingDef("keep_cancelled", 0.0, float, 0, 3_153_600_000,
                   "age after which cancelled jobs are deleted (e.g. 7d); 0 = forever", True),
        SettingDef("keep_runs", 0, int, 0, 1_000_000, "runs (with their output) kept per job; 0 = all"),
    )
}

_number_re = cache(partial(re.compile, r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"))
_integer_re = cache(partial(re.compile, r"[+-]?\d+"))
_duration_re = cache(partial(re.compile, r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])"))
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration(text: str) -> float | None:
    """Seconds from "90s", "5m", "2h", "7d" (a bare number is read by `_number`), or None."""
    match = _duration_re().fullmatch(text.strip().lower())
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else None


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def normalize_key(key: str) -> str:
    """The canonical key (`Max-Retries` -> `max_retries`); unknown keys are refused, listing the known ones."""
    if isinstance(key, str):
        canonical = key.strip().lower().replace("-", "_")
        if canonical in SETTINGS:
            return canonical
    raise InvalidSetting(f"unknown setting {show_value(key)} (known: {', '.join(SETTINGS)})")


def _number(raw: object, as_int: bool) -> int | float | None:
    """The numeric value of CLI text or a JSON number, or None when it is not one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if as_int and _integer_re().fullmatch(text):
        try:
            return int(text)
        except ValueError:
            return None
    if not _number_re().fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_value(key: str, raw: object) -> int | float:
    """The validated value of a setting, from CLI text ("3", "2.5", "1e3") or a JSON value (anything
    else is refused with InvalidSetting)."""
    setting = SETTINGS[normalize_key(key)]
    as_int = setting.kind is int
    value = _number(raw, as_int)
    if value is None and setting.duration and isinstance(raw, str):
        value = _duration(raw)
    if as_int and isinstance(value, float):
        value = int(value) if value.is_integer() else None
    if value is None or not setting.minimum <= value <= setting.maximum:
        what = "an integer" if as_int else "a duration (seconds, or e.g. 12h, 7d)" if setting.duration else "a number"
        raise InvalidSetting(
            f"{setting.key}: must be {what} between {_bound(setting.minimum)} and "
            f"{_bound(setting.maximum)}, got {show_value(raw)}"
        )
    return int(value) if as_int else float(value)


class Settings(NamedTuple):
    """The effective settings: stored values over the defaults."""

    max_retries: int = 3
    backoff_base: float = 2.0
    backoff_max: float = 3600.0
    job_timeout: float = 0.0
    poll_interval: float = 1.0
    worker_timeout: float = 30.0
    kill_grace: float = 5.0
    log_max_bytes: int = 1_048_576
    keep_completed: float = 0.0
    keep_dead: float = 0.0
    keep_cancelled: float = 0.0
    keep_runs: int = 0

    @classmethod
    def from_stored(cls, stored: Mapping[str, object]) -> "Settings":
        """Settings from stored key -> value; unknown keys are ignored and invalid values fall back to the default."""
        values: dict[str, int | float] = {}
        for key, raw in stored.items():
            try:
                canonical = normalize_key(key)
                values[canonical] = parse_value(canonical, raw)
            except InvalidInput:
                continue
        return cls(**values)

    def as_dict(self) -> dict[str, int | float]:
        """Every setting by key, in the order of SETTINGS."""
        return {key: getattr(self, key) for key in SETTINGS}


def backoff_delay(settings: Settings, attempts: int) -> float:
    """Seconds before the next retry: backoff_base ** attempts, capped at backoff_max (no overflow)."""
    try:
        delay = float(settings.backoff_base) ** max(int(attempts), 0)
    except OverflowError:
        delay = math.inf
    return float(min(delay, settings.backoff_max))
