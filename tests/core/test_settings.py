"""Settings: keys, defaults, validation of CLI text and stored values, and the retry backoff."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queuectl.core.errors import InvalidInput, InvalidSetting
from queuectl.core.settings import (
    SETTINGS,
    Settings,
    backoff_delay,
    normalize_key,
    parse_value,
)

FAST = settings(max_examples=200, deadline=None, database=None)

EXPECTED = [
    ("max_retries", int, 3, 0, 10_000),
    ("backoff_base", float, 2, 1, 1000),
    ("backoff_max", float, 3600, 0, 31_536_000),
    ("job_timeout", float, 0, 0, 31_536_000),
    ("poll_interval", float, 1.0, 0.01, 3600),
    ("worker_timeout", float, 30, 2, 86_400),
    ("kill_grace", float, 5, 0, 3600),
    ("log_max_bytes", int, 1_048_576, 1024, 999_000_000),
    ("keep_completed", float, 0, 0, 3_153_600_000),
    ("keep_dead", float, 0, 0, 3_153_600_000),
    ("keep_cancelled", float, 0, 0, 3_153_600_000),
    ("keep_runs", int, 0, 0, 1_000_000),
]
KNOWN = ", ".join(row[0] for row in EXPECTED)


def test_settings_table_in_order() -> None:
    assert [(d.key, d.kind, d.default, d.minimum, d.maximum) for d in SETTINGS.values()] == EXPECTED
    assert all(key == d.key and d.help for key, d in SETTINGS.items())


def test_defaults_match_the_table() -> None:
    defaults = Settings()
    assert defaults.as_dict() == {key: d.default for key, d in SETTINGS.items()}
    assert list(defaults.as_dict()) == list(SETTINGS)
    for key, d in SETTINGS.items():
        assert type(getattr(defaults, key)) is d.kind


def test_settings_fields_are_the_keys() -> None:
    assert list(Settings._fields) == list(SETTINGS)


# --- normalize_key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("max_retries", "max_retries", id="canonical"),
        pytest.param("max-retries", "max_retries", id="dashes"),
        pytest.param("Max-Retries", "max_retries", id="mixed-case"),
        pytest.param("  log-max-bytes ", "log_max_bytes", id="surrounding-space"),
        pytest.param("KILL_GRACE", "kill_grace", id="upper"),
        *(pytest.param(key, key, id=f"every-key-{key}") for key in SETTINGS),
        *(pytest.param(key.replace("_", "-"), key, id=f"every-key-dashed-{key}") for key in SETTINGS),
    ],
)
def test_normalize_key(key: str, expected: str) -> None:
    assert normalize_key(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("retries", id="unknown"),
        pytest.param("", id="empty"),
        pytest.param("max retries", id="space-inside"),
        pytest.param("max__retries", id="double-underscore"),
        pytest.param(None, id="none"),
        pytest.param(3, id="int"),
    ],
)
def test_unknown_key_lists_known_keys(key: object) -> None:
    with pytest.raises(InvalidSetting) as caught:
        normalize_key(key)  # type: ignore[arg-type]  # a non-string key on purpose
    message = str(caught.value)
    assert message.startswith("unknown setting ")
    assert message.endswith(f"(known: {KNOWN})")


def test_unknown_key_message_quotes_the_key() -> None:
    with pytest.raises(InvalidSetting, match=r"^unknown setting 'x' \(known: max_retries, backoff_base, "):
        normalize_key("x")


# --- parse_value ---------------------------------------------------------------------------------

VALID = [
    pytest.param("max_retries", "3", 3, id="max_retries-text"),
    pytest.param("max_retries", "0", 0, id="max_retries-zero"),
    pytest.param("max_retries", "10000", 10_000, id="max_retries-max"),
    pytest.param("max_retries", "+7", 7, id="max_retries-plus-sign"),
    pytest.param("max_retries", " 4 ", 4, id="max_retries-spaces"),
    pytest.param("max_retries", 5, 5, id="max_retries-json-int"),
    pytest.param("max_retries", 5.0, 5, id="max_retries-json-integral-float"),
    pytest.param("max_retries", "1e3", 1000, id="max_retries-exponent"),
    pytest.param("max-retries", "2", 2, id="max_retries-dashed-key"),
    pytest.param("backoff_base", "2.5", 2.5, id="backoff_base-fraction"),
    pytest.param("backoff_base", "1", 1.0, id="backoff_base-min"),
    pytest.param("backoff_base", 1000, 1000.0, id="backoff_base-max-json"),
    pytest.param("backoff_max", "0", 0.0, id="backoff_max-zero"),
    pytest.param("backoff_max", "1e3", 1000.0, id="backoff_max-exponent"),
    pytest.param("backoff_max", "31536000", 31_536_000.0, id="backoff_max-max"),
    pytest.param("job_timeout", "0", 0.0, id="job_timeout-none"),
    pytest.param("job_timeout", "90.5", 90.5, id="job_timeout-fraction"),
    pytest.param("poll_interval", "0.01", 0.01, id="poll_interval-min"),
    pytest.param("poll_interval", ".5", 0.5, id="poll_interval-leading-dot"),
    pytest.param("poll_interval", "3600", 3600.0, id="poll_interval-max"),
    pytest.param("worker_timeout", "2", 2.0, id="worker_timeout-min"),
    pytest.param("worker_timeout", "86400", 86_400.0, id="worker_timeout-max"),
    pytest.param("kill_grace", "0", 0.0, id="kill_grace-zero"),
    pytest.param("kill-grace", 10, 10.0, id="kill_grace-dashed-json"),
    pytest.param("log_max_bytes", "1024", 1024, id="log_max_bytes-min"),
    pytest.param("log_max_bytes", "999000000", 999_000_000, id="log_max_bytes-max"),
    pytest.param("log-max-bytes", "1e6", 1_000_000, id="log_max_bytes-exponent"),
]


@pytest.mark.parametrize(("key", "raw", "expected"), VALID)
def test_parse_value(key: str, raw: object, expected: int | float) -> None:
    value = parse_value(key, raw)
    assert value == expected
    assert type(value) is SETTINGS[normalize_key(key)].kind


INVALID = [
    pytest.param(
        "max_retries",
        "-1",
        "max_retries: must be an integer between 0 and 10000, got '-1'",
        id="max_retries-minus-one",
    ),
    pytest.param(
        "max_retries",
        -1,
        "max_retries: must be an integer between 0 and 10000, got -1",
        id="max_retries-json-negative",
    ),
    pytest.param(
        "max_retries",
        "10001",
        "max_retries: must be an integer between 0 and 10000",
        id="max_retries-too-big",
    ),
    pytest.param("max_retries", "2.5", "max_retries: must be an integer", id="max_retries-fraction"),
    pytest.param("max_retries", 2.5, "max_retries: must be an integer", id="max_retries-json-fraction"),
    pytest.param("max_retries", True, "max_retries: must be an integer", id="max_retries-bool"),
    pytest.param("max_retries", "true", "max_retries: must be an integer", id="max_retries-true-text"),
    pytest.param("max_retries", "three", "max_retries: must be an integer", id="max_retries-word"),
    pytest.param("max_retries", "", "max_retries: must be an integer", id="max_retries-empty"),
    pytest.param("max_retries", "9" * 5000, "max_retries: must be an integer", id="max_retries-5000-digits"),
    pytest.param("max_retries", 10**400, "max_retries: must be an integer", id="max_retries-huge-int"),
    pytest.param(
        "backoff_base",
        "0.5",
        "backoff_base: must be a number between 1 and 1000, got '0.5'",
        id="backoff_base-below-1",
    ),
    pytest.param(
        "backoff_base",
        "1001",
        "backoff_base: must be a number between 1 and 1000",
        id="backoff_base-too-big",
    ),
    pytest.param("backoff_base", "nan", "backoff_base: must be a number", id="backoff_base-nan-text"),
    pytest.param("backoff_base", math.nan, "backoff_base: must be a number", id="backoff_base-nan"),
    pytest.param("backoff_max", "inf", "backoff_max: must be a number", id="backoff_max-inf-text"),
    pytest.param("backoff_max", math.inf, "backoff_max: must be a number", id="backoff_max-inf"),
    pytest.param("backoff_max", "1e400", "backoff_max: must be a number", id="backoff_max-overflow"),
    pytest.param(
        "backoff_max",
        "-1",
        "backoff_max: must be a number between 0 and 31536000",
        id="backoff_max-negative",
    ),
    pytest.param("job_timeout", "31536001", "job_timeout: must be a number", id="job_timeout-over-a-year"),
    pytest.param("job_timeout", "30s", "job_timeout: must be a number", id="job_timeout-with-unit"),
    pytest.param(
        "poll_interval",
        "0",
        "poll_interval: must be a number between 0.01 and 3600",
        id="poll_interval-zero",
    ),
    pytest.param("poll_interval", "0.001", "poll_interval: must be a number", id="poll_interval-too-small"),
    pytest.param(
        "worker_timeout",
        "1",
        "worker_timeout: must be a number between 2 and 86400",
        id="worker_timeout-too-small",
    ),
    pytest.param("worker_timeout", "86401", "worker_timeout: must be a number", id="worker_timeout-too-big"),
    pytest.param("kill_grace", "-0.5", "kill_grace: must be a number between 0 and 3600", id="kill_grace-negative"),
    pytest.param("kill_grace", False, "kill_grace: must be a number", id="kill_grace-bool"),
    pytest.param("kill_grace", "1_0", "kill_grace: must be a number", id="kill_grace-underscore"),
    pytest.param("kill_grace", None, "kill_grace: must be a number", id="kill_grace-none"),
    pytest.param("kill_grace", [5], "kill_grace: must be a number", id="kill_grace-list"),
    pytest.param(
        "log_max_bytes",
        "1023",
        "log_max_bytes: must be an integer between 1024 and 999000000",
        id="log_max_bytes-too-small",
    ),
    pytest.param("log_max_bytes", "1073741825", "log_max_bytes: must be an integer", id="log_max_bytes-too-big"),
    # 1 GiB was allowed: SQLite refuses a blob over 1,000,000,000 bytes (issue 13, item 7)
    pytest.param(
        "log_max_bytes", "1000000000", "log_max_bytes: must be an integer", id="log_max_bytes-over-sqlite-blob"
    ),
    pytest.param("log_max_bytes", "1e3", "log_max_bytes: must be an integer", id="log_max_bytes-exponent-below-min"),
    pytest.param("log_max_bytes", "1MB", "log_max_bytes: must be an integer", id="log_max_bytes-unit"),
    pytest.param("log-max-bytes", "0x400", "log_max_bytes: must be an integer", id="log_max_bytes-hex-dashed-key"),
]


@pytest.mark.parametrize(("key", "raw", "message"), INVALID)
def test_parse_value_invalid(key: str, raw: object, message: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        parse_value(key, raw)
    assert str(caught.value).startswith(message)


def test_parse_value_unknown_key() -> None:
    with pytest.raises(InvalidSetting, match=r"^unknown setting 'retries' \(known: "):
        parse_value("retries", "3")


@pytest.mark.parametrize("key", list(SETTINGS))
def test_every_default_is_valid(key: str) -> None:
    assert parse_value(key, str(SETTINGS[key].default)) == SETTINGS[key].default


# --- Settings.from_stored / as_dict --------------------------------------------------------------


def test_from_stored_uses_stored_values() -> None:
    stored = {"max_retries": 5, "backoff_base": 3, "poll_interval": "0.5", "log_max_bytes": 2048}
    s = Settings.from_stored(stored)
    assert (s.max_retries, s.backoff_base, s.poll_interval, s.log_max_bytes) == (5, 3.0, 0.5, 2048)
    assert type(s.backoff_base) is float
    assert s.kill_grace == 5.0


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param({}, id="empty"),
        pytest.param({"no_such_key": 1}, id="unknown-key"),
        pytest.param({"max_retries": -1}, id="out-of-range"),
        pytest.param({"max_retries": "junk"}, id="garbage-text"),
        pytest.param({"max_retries": None}, id="null"),
        pytest.param({"max_retries": [3]}, id="list"),
        pytest.param({"backoff_base": math.nan}, id="nan"),
        pytest.param({"max_retries": True}, id="bool"),
        pytest.param({3: 3}, id="non-string-key"),
    ],
)
def test_from_stored_falls_back_to_defaults(stored: dict[object, object]) -> None:
    assert Settings.from_stored(stored) == Settings()  # type: ignore[arg-type]  # non-string keys on purpose


def test_from_stored_keeps_valid_values_next_to_invalid_ones() -> None:
    s = Settings.from_stored({"max_retries": "junk", "kill_grace": 1, "x": 2})
    assert s == Settings()._replace(kill_grace=1.0)


def test_as_dict_round_trips() -> None:
    s = Settings(max_retries=7, poll_interval=0.25)
    assert Settings.from_stored(s.as_dict()) == s


# --- backoff_delay -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "cap", "attempts", "expected"),
    [
        pytest.param(2.0, 3600.0, 0, 1.0, id="zero-attempts"),
        pytest.param(2.0, 3600.0, 1, 2.0, id="first-retry"),
        pytest.param(2.0, 3600.0, 3, 8.0, id="third-retry"),
        pytest.param(2.0, 3600.0, 11, 2048.0, id="below-cap"),
        pytest.param(2.0, 3600.0, 12, 3600.0, id="capped"),
        pytest.param(2.0, 3600.0, 10_001, 3600.0, id="huge-attempts-no-overflow"),
        pytest.param(1000.0, 31_536_000.0, 10_001, 31_536_000.0, id="max-base-huge-attempts"),
        pytest.param(1.0, 3600.0, 10_001, 1.0, id="base-one-is-constant"),
        pytest.param(2.0, 0.0, 5, 0.0, id="cap-zero"),
        pytest.param(1.5, 3600.0, 2, 2.25, id="fractional-base"),
        pytest.param(2.0, 3600.0, 10**30, 3600.0, id="absurd-attempts"),
    ],
)
def test_backoff_delay(base: float, cap: float, attempts: int, expected: float) -> None:
    result = backoff_delay(Settings(backoff_base=base, backoff_max=cap), attempts)
    assert result == pytest.approx(expected)
    assert isinstance(result, float)


# --- properties ----------------------------------------------------------------------------------

raw_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.from_regex(r"[+-]?[0-9]{0,12}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)
    | st.lists(st.integers(), max_size=2)
)
keys = (
    st.sampled_from(list(SETTINGS))
    | st.sampled_from([k.replace("_", "-").upper() for k in SETTINGS])
    | st.text(max_size=15)
)


@FAST
@given(key=keys, raw=raw_values)
def test_parse_value_only_raises_invalid_input(key: str, raw: object) -> None:
    try:
        value = parse_value(key, raw)
    except InvalidInput:
        return
    setting = SETTINGS[normalize_key(key)]
    assert type(value) is setting.kind
    assert setting.minimum <= value <= setting.maximum


@FAST
@given(stored=st.dictionaries(keys, raw_values, max_size=10))
def test_from_stored_never_raises(stored: dict[str, object]) -> None:
    s = Settings.from_stored(stored)
    for key, value in s.as_dict().items():
        setting = SETTINGS[key]
        assert type(value) is setting.kind
        assert setting.minimum <= value <= setting.maximum


@FAST
@given(
    base=st.floats(min_value=1, max_value=1000),
    cap=st.floats(min_value=0, max_value=31_536_000),
    attempts=st.integers(min_value=0, max_value=20_000),
)
def test_backoff_delay_is_bounded(base: float, cap: float, attempts: int) -> None:
    delay = backoff_delay(Settings(backoff_base=base, backoff_max=cap), attempts)
    assert 0 <= delay <= cap
    assert math.isfinite(delay)
