"""The retry policy as pure functions: every status, every Retry-After form, bounded delays."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux_cli.exit_codes import ExitCode
from flux_cli.openrouter.retry import (
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    Decision,
    backoff_delay,
    body_allows_retry,
    classify_status,
    parse_retry_after,
    retry_delay,
)
from tests.status_exit_codes import exit_code_for_status

NOW = 1_796_000_000.0  # a fixed wall clock for HTTP-date tests


def _now() -> float:
    return NOW


def test_every_status_has_exactly_one_decision_and_exit_code() -> None:
    """100–599: one decision each, and an exit code consistent with it (issue 7's generated table)."""
    expected_exit = {
        Decision.SUCCESS: {ExitCode.OK},
        Decision.RETRY: {ExitCode.UNAVAILABLE},
        Decision.UNKNOWN: {ExitCode.OUTCOME_UNKNOWN},
        Decision.FAIL: {ExitCode.USAGE, ExitCode.AUTH, ExitCode.CREDITS, ExitCode.BAD_RESPONSE},
    }
    seen: dict[Decision, int] = dict.fromkeys(Decision, 0)
    for status in range(100, 600):
        decision = classify_status(status)
        seen[decision] += 1
        assert exit_code_for_status(status) in expected_exit[decision], status
    assert seen[Decision.SUCCESS] == 100
    assert seen[Decision.RETRY] == 5


@pytest.mark.parametrize(
    ("status", "decision", "code"),
    [
        (200, Decision.SUCCESS, ExitCode.OK),
        (301, Decision.FAIL, ExitCode.BAD_RESPONSE),
        (400, Decision.FAIL, ExitCode.USAGE),
        (401, Decision.FAIL, ExitCode.AUTH),
        (402, Decision.FAIL, ExitCode.CREDITS),
        (403, Decision.FAIL, ExitCode.AUTH),
        (404, Decision.FAIL, ExitCode.USAGE),
        (408, Decision.RETRY, ExitCode.UNAVAILABLE),
        (413, Decision.FAIL, ExitCode.USAGE),
        (429, Decision.RETRY, ExitCode.UNAVAILABLE),
        (500, Decision.UNKNOWN, ExitCode.OUTCOME_UNKNOWN),
        (501, Decision.FAIL, ExitCode.BAD_RESPONSE),
        (502, Decision.RETRY, ExitCode.UNAVAILABLE),
        (503, Decision.RETRY, ExitCode.UNAVAILABLE),
        (504, Decision.UNKNOWN, ExitCode.OUTCOME_UNKNOWN),
        (524, Decision.UNKNOWN, ExitCode.OUTCOME_UNKNOWN),
        (529, Decision.RETRY, ExitCode.UNAVAILABLE),
    ],
)
def test_documented_statuses(status: int, decision: Decision, code: ExitCode) -> None:
    assert classify_status(status) is decision
    assert exit_code_for_status(status) is code


def test_moderation_maps_to_six() -> None:
    assert exit_code_for_status(403, moderation=True) is ExitCode.MODERATION
    assert exit_code_for_status(400, moderation=True) is ExitCode.MODERATION


@pytest.mark.parametrize(
    ("headers", "error", "expected"),
    [
        ({"Retry-After": "2"}, None, 2.0),
        ({"retry-after": "1.5"}, None, 1.5),
        ({"Retry-After": "1", "retry-after-ms": "1500"}, None, 1.5),
        ({"Retry-After": "0"}, None, 0.0),
        ({"Retry-After": "-10"}, None, None),
        ({"Retry-After": "inf"}, None, None),
        ({"Retry-After": "nan"}, None, None),
        ({"Retry-After": ""}, None, None),
        ({"Retry-After": "abc"}, None, None),
        ({"Retry-After": "99999999999999999999"}, None, 86_400.0),  # capped: a day or more
        # The stdlib date parser ignores the weekday; a date in the past means "now".
        ({"Retry-After": "Zun, 29 Sep 2026 00:00:00 GMT"}, None, 0.0),
        ({"Retry-After": "Fri, 29 Sep 100000 00:00:00 GMT"}, None, None),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, None, 0.0),
        ({}, {"metadata": {"retry_after_seconds": 3}}, 3.0),
        ({}, {"availability": {"retry_after": 40}}, 40.0),
        ({}, {"metadata": {"retry_after_seconds": "x"}, "availability": {"retry_after": 7}}, 7.0),
        ({}, {"metadata": {"retry_after_seconds": True}}, None),
        ({}, None, None),
    ],
)
def test_parse_retry_after(
    headers: dict[str, str], error: dict[str, object] | None, expected: float | None
) -> None:
    assert parse_retry_after(headers, error, now=_now) == expected


def test_http_date_retry_after_is_relative_to_now() -> None:
    from email.utils import formatdate

    assert parse_retry_after({"Retry-After": formatdate(NOW + 30, usegmt=True)}, now=_now) == 30.0


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_retry_after_parser_never_raises(value: str) -> None:
    result = parse_retry_after(
        {"Retry-After": value, "retry-after-ms": value},
        {"metadata": {"retry_after_seconds": value}},
        now=_now,
    )
    assert result is None or result >= 0


def test_backoff_grows_and_is_capped() -> None:
    assert backoff_delay(0, lambda: 0.0) == 0.5
    assert backoff_delay(1, lambda: 0.0) == 1.0
    assert backoff_delay(2, lambda: 0.0) == 2.0
    assert backoff_delay(10, lambda: 0.0) == MAX_RETRY_DELAY
    assert backoff_delay(-1100, lambda: 0.0) == 0.5
    assert backoff_delay(0, lambda: 1.0) == pytest.approx(0.375)


@given(st.integers(-10_000, 10_000), st.floats(0, 1))
def test_backoff_bounds(retries: int, jitter: float) -> None:
    delay = backoff_delay(retries, lambda: jitter)
    assert 0 < delay <= MAX_RETRY_DELAY


def test_retry_delay_honours_and_caps_server_wait() -> None:
    assert retry_delay(0, 2.0, lambda: 0.0) == 2.0
    assert retry_delay(0, MAX_RETRY_AFTER, lambda: 0.0) == MAX_RETRY_AFTER
    assert retry_delay(0, MAX_RETRY_AFTER + 1, lambda: 0.0) is None
    assert retry_delay(1, None, lambda: 0.0) == 1.0
    assert retry_delay(1, 0.0, lambda: 0.0) == 1.0


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (429, {"availability": {"retryable": False}}, False),
        (404, {"availability": {"retryable": True}}, True),
        (402, {"metadata": {"limit_source": "openrouter_in_flight_budget"}}, True),
        (402, {"metadata": {"limit_source": "openrouter_credits"}}, False),
        (429, {}, None),
    ],
)
def test_body_allows_retry(status: int, error: dict[str, object], expected: bool | None) -> None:
    assert body_allows_retry(status, error) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1e20"}, 86_400.0),
        ({"retry-after-ms": "1e300"}, 86_400.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, 86_400.0),
        ({"Retry-After": "30"}, 30.0),
    ],
)
def test_a_huge_retry_after_is_capped(headers: dict[str, str], expected: float) -> None:
    assert parse_retry_after(headers, None, now=lambda: 0.0) == expected


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(30, "about 1 min"), (300, "about 5 min"), (3 * 3600, "about 3 h"), (1e20, "a day or more")],
)
def test_waits_are_described_in_words_a_person_acts_on(seconds: float, words: str) -> None:
    from flux_cli.openrouter.retry import describe_wait

    assert describe_wait(seconds) == words
