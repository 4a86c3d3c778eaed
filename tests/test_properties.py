"""Property tests of every parser that reads server data (issue 7 item 3, docs/reliability.md#test-volumes).

Whatever the server sends, only the documented typed errors escape (`flux_cli.openrouter.errors`,
`flux_cli.images.InvalidImage`, `ValueError` where a function documents it) and money is never a
binary float or a non-finite value. 1,000 examples per property under the `ci` profile.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux_cli.credentials import ApiKey
from flux_cli.embedded_catalog import MODELS, PriceRule
from flux_cli.images import (
    FORMATS,
    ImageInfo,
    InvalidImage,
    decode_base64_strict,
    inspect_image,
    normalise_image,
    parse_data_url,
)
from flux_cli.openrouter import account, catalog, catalog_cache, catalog_fetch, wire
from flux_cli.openrouter import errors as E
from flux_cli.openrouter import model_records as records
from flux_cli.openrouter.client import ImageResult, OpenRouterClient
from flux_cli.openrouter.price_lines import price_rule_from_lines
from flux_cli.openrouter.retry import (
    MAX_RETRY_AFTER,
    RETRY_AFTER_CEILING,
    body_allows_retry,
    parse_retry_after,
    retry_delay,
)
from flux_cli.pricing import usd_to_micros
from tests.conftest import CANARY_KEY

#: 1,000 examples per property in CI (docs/reliability.md#test-volumes), the library default elsewhere.
EXAMPLES = 1000 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 100
PROPERTY = settings(
    max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
#: Properties that go through an HTTP client or a thread pool per example: 1,000 in CI as well,
#: fewer while developing.
SLOW_PROPERTY = settings(
    max_examples=EXAMPLES if EXAMPLES >= 1000 else max(EXAMPLES // 4, 50),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

BASE = "https://openrouter.test/api/v1"
NOW = 1_700_000_000.0
ESC_AND_CONTROLS = [chr(c) for c in (*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))]

# -- strategies ----------------------------------------------------------------------------------

#: Field names the parsers look for, so that generated objects reach deep into them.
KEYS = [
    "data",
    "b64_json",
    "media_type",
    "usage",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "error",
    "code",
    "http_status",
    "message",
    "metadata",
    "error_type",
    "type",
    "raw",
    "reasons",
    "flagged_input",
    "availability",
    "retryable",
    "retry_after",
    "retry_after_seconds",
    "limit_source",
    "choices",
    "finish_reason",
    "images",
    "image_url",
    "url",
    "id",
    "provider",
    "pricing",
    "billable",
    "unit",
    "variant",
    "cost_usd",
    "endpoints",
    "provider_name",
    "provider_slug",
    "allowed_passthrough_parameters",
    "supported_parameters",
    "aspect_ratio",
    "values",
    "max",
    "input_references",
    "name",
    "label",
    "limit",
    "limit_remaining",
    "usage_daily",
    "total_credits",
    "total_usage",
    "total_cost",
    "created_at",
    "expires_at",
    "is_free_tier",
    "tokens_prompt",
]

huge_ints = st.integers(min_value=-(10**4000), max_value=10**4000)
finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)
wild_decimals = st.sampled_from(
    ["1e999", "-1e999", "1E+999999", "1e-999999", "0.0000001", "-0", "-0.0", "1e-7", "0.0000005"]
).map(Decimal)
number_strings = st.sampled_from(
    [
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        "1e999",
        "1e-400",
        "0x10",
        "1_000",
        " 0.03 ",
        "",
        "-0.01",
        "²",
        "٣",
        "1" * 5000,
        "0.03\n",
        "1e99999999999",
    ]
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    huge_ints,
    finite_decimals,
    wild_decimals,
    st.text(max_size=40),
    number_strings,
    st.sampled_from(ESC_AND_CONTROLS).map(lambda c: f"x{c}]52;c;SGVsbG8=\x07y\u202e"),
)
json_keys = st.sampled_from(KEYS) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_keys, children, max_size=6)
    ),
    max_leaves=25,
)


def to_json(value: object) -> str:
    """JSON text for a generated value; Decimals become JSON numbers (as the server sends them)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)  # may exceed the 4300-digit limit: loads must refuse it cleanly
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)

usage_objects = st.fixed_dictionaries(
    {},
    optional={
        "cost": json_scalars,
        "prompt_tokens": json_scalars,
        "completion_tokens": json_scalars,
        "total_tokens": json_scalars,
    },
)
b64_values = st.one_of(
    json_scalars, st.just(_b64(TINY_PNG)), st.binary(max_size=64).map(_b64), st.text(max_size=64)
)
images_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "created": json_scalars,
            "data": st.one_of(
                json_values,
                st.lists(
                    st.one_of(
                        json_values,
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "b64_json": b64_values,
                                "media_type": st.sampled_from(
                                    ["image/png", "image/svg+xml", "text/html", ""]
                                )
                                | json_scalars,
                            },
                        ),
                    ),
                    max_size=3,
                ),
            ),
            "usage": usage_objects | json_values,
            "error": json_values,
        },
    ),
)
urls = st.one_of(
    st.text(max_size=60),
    st.builds(lambda b: "data:image/png;base64," + _b64(b), st.binary(max_size=40)),
    st.just("data:image/png;base64," + _b64(TINY_PNG)),
    st.sampled_from(
        [
            "data:",
            "data:,",
            "data:image/svg+xml;base64,PHN2Zy8+",
            "data:;base64,AAAA",
            "http://10.0.0.1/x.png",
            "file:///etc/passwd",
            "https://",
            "javascript:alert(1)",
        ]
    ),
)
chat_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "id": json_scalars,
            "provider": json_scalars,
            "usage": usage_objects | json_values,
            "choices": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "finish_reason": st.sampled_from(["stop", "error"]) | json_scalars,
                        "error": json_values,
                        "message": st.fixed_dictionaries(
                            {},
                            optional={
                                "images": st.lists(
                                    st.fixed_dictionaries(
                                        {},
                                        optional={
                                            "image_url": st.fixed_dictionaries(
                                                {}, optional={"url": urls | json_scalars}
                                            )
                                            | json_values
                                        },
                                    )
                                    | json_values,
                                    max_size=2,
                                )
                                | json_values
                            },
                        )
                        | json_values,
                    },
                )
                | json_values,
                max_size=2,
            )
            | json_values,
        },
    ),
)
error_objects = st.fixed_dictionaries(
    {},
    optional={
        "code": json_scalars | st.sampled_from(["429", "²", "¹²³", "٤٢٩", "0429", "-1", ""]),
        "http_status": json_scalars,
        "message": json_scalars,
        "type": json_scalars,
        "error_type": json_scalars,
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "error_type": json_scalars,
                "reasons": st.lists(json_scalars, max_size=3) | json_values,
                "flagged_input": json_scalars,
                "raw": json_values,
                "retry_after_seconds": json_scalars,
                "limit_source": st.sampled_from(["openrouter_in_flight_budget"]) | json_scalars,
            },
        )
        | json_values,
        "availability": st.fixed_dictionaries(
            {}, optional={"retryable": json_scalars, "retry_after": json_scalars}
        )
        | json_values,
    },
)
error_bodies = st.one_of(
    json_values, st.builds(lambda e: {"error": e}, error_objects | json_values)
)
header_values = st.one_of(
    st.text(max_size=40),
    number_strings,
    st.integers().map(str),
    st.floats().map(str),
    st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 31),
        timezones=st.just(UTC),
    ).map(lambda d: format_datetime(d, usegmt=True)),
    st.sampled_from(
        [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 01 Jan 0001 00:00:00 GMT",
            "Thu, 01 Jan 1970 00:00:00 +9999",
            "Sun, 06 Nov 1994 08:49:37 -2400",
            "31 Dec 99999 23:59:59 GMT",
            "Tue, 32 Feb 2026 25:61:61 GMT",
        ]
    ),
)
headers_strategy = st.dictionaries(
    st.sampled_from(
        ["retry-after", "Retry-After", "retry-after-ms", "RETRY-AFTER-MS", "x-generation-id"]
    )
    | st.text(min_size=1, max_size=10),
    header_values,
    max_size=4,
)


def _no_float(value: object) -> None:
    """Parsed JSON holds no binary floats anywhere."""
    assert not isinstance(value, float), value
    if isinstance(value, list):
        for item in value:
            _no_float(item)
    elif isinstance(value, dict):
        for item in value.values():
            _no_float(item)


def _check_money(micros: object) -> None:
    assert micros is None or type(micros) is int, micros


def _check_count(value: object) -> None:
    assert value is None or (isinstance(value, Decimal) and value.is_finite()), value


def _check_usage(usage: wire.Usage) -> None:
    _check_money(usage.cost_micros)
    if usage.cost_micros is not None:
        assert usage.cost_micros >= 0
    for count in (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens):
        _check_count(count)


def _check_safe_text(text: str) -> None:
    assert not any(ch in text for ch in ESC_AND_CONTROLS), repr(text)
    assert not any("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069" for ch in text)


def _check_error(exc: E.OpenRouterError) -> None:
    assert isinstance(exc.exit_code, int)
    _check_safe_text(exc.message)
    assert CANARY_KEY not in f"{exc} {exc!r}"
    if isinstance(exc, E.BadResponseError):
        _check_money(exc.cost_micros)


# -- JSON ----------------------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=200) | json_values.map(lambda v: to_json(v).encode("utf-8")))
def test_loads_gives_json_without_floats_or_a_bad_response(payload: bytes) -> None:
    try:
        obj = wire.loads(payload)
    except E.BadResponseError as exc:
        _check_error(exc)
        return
    _no_float(obj)


@PROPERTY
@given(json_values)
def test_server_text_is_always_short_safe_text(value: object) -> None:
    text = wire.server_text(value)
    _check_safe_text(text)
    assert len(text) <= wire.MAX_MESSAGE_CHARS


# -- success bodies ------------------------------------------------------------------------------


@PROPERTY
@given(images_bodies, headers_strategy)
def test_parse_images_success_returns_an_image_or_a_bad_response(
    body: object, headers: dict[str, str]
) -> None:
    try:
        parsed = wire.parse_images_success(body, headers)
    except E.BadResponseError as exc:
        _check_error(exc)
        return
    assert isinstance(parsed.encoded, str)
    assert parsed.encoded
    assert parsed.kind == "b64"
    _check_usage(parsed.usage)


@PROPERTY
@given(chat_bodies, headers_strategy)
def test_parse_chat_success_returns_an_image_or_a_bad_response(
    body: object, headers: dict[str, str]
) -> None:
    try:
        info = wire.choice_error(body)
    except Exception as exc:  # pragma: no cover - the assertion below reports it
        pytest.fail(f"choice_error raised {exc!r}")
    assert info is None or isinstance(info, wire.ErrorInfo)
    try:
        parsed = wire.parse_chat_success(body, headers)
    except E.BadResponseError as exc:
        _check_error(exc)
        return
    assert parsed.kind in {"data-url", "url"}
    _check_usage(parsed.usage)
    for text in (parsed.generation_id, parsed.provider):
        if text is not None:
            _check_safe_text(text)


@PROPERTY
@given(json_values | usage_objects)
def test_usage_numbers_are_finite_decimals_and_whole_micro_dollars(value: object) -> None:
    _check_usage(wire.parse_usage(value))
    number = wire.number(value)
    _check_count(number)


@PROPERTY
@given(json_scalars | st.floats())
def test_usd_to_micros_gives_an_int_or_its_documented_value_error(value: object) -> None:
    if not isinstance(value, (Decimal, int, str)) or isinstance(value, bool):
        value = str(value)
    try:
        micros = usd_to_micros(value)
    except ValueError:
        return
    assert type(micros) is int


# -- error bodies --------------------------------------------------------------------------------


@PROPERTY
@given(error_bodies)
def test_error_info_reads_any_body_without_raising(body: object) -> None:
    info = wire.error_info(body)
    if info is None:
        return
    assert info.code is None or isinstance(info.code, (int, str))
    assert not isinstance(info.code, bool)
    _check_safe_text(info.message)
    assert isinstance(info.moderation, bool)
    detail = wire.detail_of(info)
    _check_safe_text(detail)
    assert info.error_type is None or isinstance(info.error_type, str)


@PROPERTY
@given(st.integers(min_value=100, max_value=599), error_objects | json_values)
def test_body_allows_retry_is_a_bool_or_none(status: int, error: object) -> None:
    if not isinstance(error, Mapping):
        error = {"error": error}
    assert body_allows_retry(status, error) in (True, False, None)


def _client(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float]
) -> OpenRouterClient:
    return OpenRouterClient(
        BASE,
        ApiKey(CANARY_KEY, "test"),
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        clock=lambda: 0.0,
        wall_clock=lambda: NOW,
        rand=lambda: 0.5,
    )


@SLOW_PROPERTY
@given(
    st.integers(min_value=200, max_value=599),
    headers_strategy,
    st.sampled_from(["application/json", "text/html", "application/json; charset=utf-8", ""]),
    st.one_of(
        error_bodies.map(lambda v: to_json(v).encode("utf-8")),
        images_bodies.map(lambda v: to_json(v).encode("utf-8")),
        chat_bodies.map(lambda v: to_json(v).encode("utf-8")),
        st.binary(max_size=100),
    ),
    st.sampled_from(["images", "chat"]),
)
def test_generate_answers_any_response_with_a_typed_error(
    status: int, headers: dict[str, str], content_type: str, body: bytes, route: str
) -> None:
    """The whole response path (status, headers, Retry-After, body) against anything at all."""
    sleeps: list[float] = []
    sent_headers = {k: v for k, v in headers.items() if k.isascii() and v.isascii()}
    sent_headers = {k: v for k, v in sent_headers.items() if k.strip() and "\n" not in k + v}
    if content_type:
        sent_headers["content-type"] = content_type

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host != "openrouter.test":
            return httpx.Response(404)
        try:
            return httpx.Response(status, headers=sent_headers, content=body)
        except Exception:  # a header httpx itself cannot carry: send none
            return httpx.Response(status, content=body)

    request = wire.ImageRequest(model="black-forest-labs/flux.2-pro", prompt="a fox")
    with _client(handler, sleeps) as client:
        try:
            result = client.generate(request, route)
        except E.OpenRouterError as exc:
            _check_error(exc)
        else:
            assert isinstance(result, ImageResult)
            _check_usage(result.usage)
    assert all(math.isfinite(s) and 0 <= s <= MAX_RETRY_AFTER for s in sleeps), sleeps


@SLOW_PROPERTY
@given(
    st.integers(min_value=200, max_value=599),
    st.sampled_from(["key", "credits", "generation"]),
    st.one_of(
        json_values,
        st.builds(lambda d: {"data": d}, json_values),
        st.builds(
            lambda d: {"data": d},
            st.dictionaries(st.sampled_from(KEYS), json_scalars, max_size=8),
        ),
    ),
)
def test_account_calls_answer_any_body_with_a_result_or_a_typed_error(
    status: int, call: str, body: object
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=to_json(body).encode(), headers={"content-type": "application/json"}
        )

    with _client(handler, []) as client:
        try:
            if call == "key":
                info: object = account.key_info(client)
                money = [
                    getattr(info, f) for f in vars(info) if f.endswith("_micros")
                ]  # every money field
            elif call == "credits":
                info = account.credits(client)
                money = [getattr(info, f, None) for f in ("total_micros", "usage_micros")]
            else:
                info = account.generation(client, "gen-123")
                money = [getattr(info, "total_cost_micros", None)]
        except E.OpenRouterError as exc:
            _check_error(exc)
            return
    for value in money:
        _check_money(value)


@PROPERTY
@given(json_scalars)
def test_account_money_and_time_fields_never_raise(value: object) -> None:
    _check_money(account._money(value))
    moment = account._time(value)
    assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None)


# -- Retry-After -----------------------------------------------------------------------------------


@PROPERTY
@given(headers_strategy, error_objects | json_values, st.integers(min_value=0, max_value=20))
def test_retry_after_is_none_or_a_finite_wait(
    headers: dict[str, str], error: object, retries: int
) -> None:
    body = error if isinstance(error, Mapping) else None
    wait = parse_retry_after(headers, body, now=lambda: NOW)
    assert wait is None or (isinstance(wait, float) and math.isfinite(wait) and wait >= 0), wait
    delay = retry_delay(retries, wait, lambda: 0.999)
    assert delay is None or (math.isfinite(delay) and 0 <= delay <= MAX_RETRY_AFTER)


@PROPERTY
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False) | number_strings.map(str))
def test_retry_after_seconds_round_trip_when_sane(value: float | str) -> None:
    wait = parse_retry_after({"Retry-After": str(value)}, None, now=lambda: NOW)
    assert wait is None or math.isfinite(wait)
    if isinstance(value, float):
        assert wait == pytest.approx(min(value, RETRY_AFTER_CEILING))  # a day at most


# -- base64 and data URLs ------------------------------------------------------------------------


@PROPERTY
@given(st.text(max_size=80) | st.binary(max_size=60).map(_b64))
def test_decode_base64_strict_gives_bytes_or_invalid_image(text: str) -> None:
    try:
        data = decode_base64_strict(text, max_bytes=1024)
    except InvalidImage as exc:
        _check_safe_text(exc.reason)
        return
    assert data
    assert len(data) <= 1024
    assert _b64(data) == text  # only the canonical encoding is accepted


@PROPERTY
@given(st.binary(min_size=1, max_size=300), st.integers(min_value=0), st.sampled_from(" \n=-_!é"))
def test_base64_round_trips_and_any_junk_is_refused(data: bytes, where: int, junk: str) -> None:
    text = _b64(data)
    assert decode_base64_strict(text, max_bytes=len(data)) == data
    with pytest.raises(InvalidImage):
        decode_base64_strict(text, max_bytes=len(data) - 1)
    spot = where % (len(text) + 1)
    with pytest.raises(InvalidImage):
        decode_base64_strict(text[:spot] + junk + text[spot:], max_bytes=1024)


@PROPERTY
@given(urls)
def test_parse_data_url_gives_a_media_type_and_bytes_or_invalid_image(url: str) -> None:
    try:
        media_type, data = parse_data_url(url, max_bytes=4096)
    except InvalidImage as exc:
        _check_safe_text(exc.reason)
        return
    assert media_type == media_type.lower()
    assert "/" in media_type
    assert data


@PROPERTY
@given(
    st.sampled_from(["image/png", "IMAGE/JPEG", "image/webp", "application/octet-stream"]),
    st.binary(min_size=1, max_size=200),
)
def test_data_urls_round_trip(media_type: str, data: bytes) -> None:
    assert parse_data_url(f"data:{media_type};base64,{_b64(data)}", max_bytes=200) == (
        media_type.lower(),
        data,
    )


@PROPERTY
@given(
    st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x10\x00\x00\x00WEBPVP8 "]),
    st.binary(max_size=300),
)
def test_image_decoding_of_any_bytes_gives_an_image_or_invalid_image(
    magic: bytes, rest: bytes
) -> None:
    data = magic + rest
    try:
        clean, info = normalise_image(data)
    except InvalidImage as exc:
        _check_safe_text(exc.reason)
        return
    assert isinstance(info, ImageInfo)
    assert info.format in FORMATS
    assert inspect_image(clean) == info or inspect_image(clean).format == info.format


# -- model catalog -------------------------------------------------------------------------------

cost_values = st.one_of(
    json_scalars,
    st.floats(),
    st.sampled_from(["0.03", "0.015", 0.03, Decimal("0.0000001"), "1e3", "1001", -0.0]),
)
price_lines = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "billable": st.sampled_from(
                ["output_image", "input_reference", "input_image", "input_text"]
            )
            | json_scalars,
            "unit": st.sampled_from(["megapixel", "image", "token"]) | json_scalars,
            "variant": st.sampled_from(["first", "additional", None, "2k"]) | json_scalars,
            "cost_usd": cost_values,
        },
    )
    | json_values,
    max_size=5,
)


def _check_rule(rule: object) -> None:
    assert rule is None or isinstance(rule, PriceRule)
    if isinstance(rule, PriceRule):
        for micros in (rule.first_output_mp, rule.extra_output_mp, rule.input_mp):
            assert type(micros) is int
            assert micros >= 0


@PROPERTY
@given(price_lines | json_values, st.booleans())
def test_price_rule_from_lines_is_a_whole_micro_dollar_rule_or_none(
    lines: object, accepts: bool
) -> None:
    _check_rule(price_rule_from_lines(lines, accepts_references=accepts))


model_ids = st.sampled_from([m.id for m in MODELS] + ["x/y", "../..", "a/b/c", ""]) | json_scalars
model_records = st.fixed_dictionaries(
    {},
    optional={
        "id": model_ids,
        "name": json_scalars,
        "supported_parameters": st.fixed_dictionaries(
            {},
            optional={
                "aspect_ratio": st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.just("enum") | json_scalars,
                        "values": st.lists(st.text(max_size=8), max_size=3) | json_values,
                    },
                )
                | json_values,
                "input_references": st.fixed_dictionaries(
                    {}, optional={"type": st.just("range") | json_scalars, "max": json_scalars}
                )
                | json_values,
            },
        )
        | json_values,
    },
)
endpoint_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "endpoints": st.lists(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "provider_slug": st.just("black-forest-labs") | json_scalars,
                        "provider_name": json_scalars,
                        "pricing": price_lines | json_values,
                        "allowed_passthrough_parameters": st.lists(st.text(max_size=8), max_size=3)
                        | json_values,
                    },
                )
                | json_values,
                max_size=3,
            )
            | json_values
        },
    ),
)


@PROPERTY
@given(model_records | json_values, endpoint_bodies)
def test_catalog_records_parse_or_are_unreadable(item: object, body: object) -> None:
    try:
        record = records.parse_model(item)
    except records.Unreadable:
        record = records.ModelRecord("x/y", "x", (), (), 4)
    try:
        info = records.parse_endpoints(body, record)
    except records.Unreadable:
        return
    _check_rule(info.price)
    assert all(isinstance(p, str) for p in info.passthrough)


@PROPERTY
@given(json_values)
def test_cached_catalog_entries_parse_or_are_unreadable(item: object) -> None:
    try:
        entry = catalog_cache._entry_from_json(item)
    except records.Unreadable:
        return
    _check_rule(entry.price)


@SLOW_PROPERTY
@given(
    st.one_of(
        json_values,
        st.builds(lambda d: {"data": d}, st.lists(model_records | json_values, max_size=3)),
    ),
    endpoint_bodies,
    st.integers(min_value=200, max_value=599),
)
def test_fetch_catalog_gives_entries_or_catalog_unavailable(
    listing: object, endpoints: object, status: int
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        body = endpoints if request.url.path.endswith("/endpoints") else listing
        return httpx.Response(
            status if request.url.path.endswith("/endpoints") else 200,
            content=to_json(body).encode(),
            headers={"content-type": "application/json"},
        )

    try:
        entries = catalog_fetch.fetch_catalog(BASE, transport=httpx.MockTransport(handler))
    except catalog.CatalogUnavailable:
        return
    for model in MODELS:
        assert model.id in entries
    for entry in entries.values():
        _check_rule(entry.price)


@settings(
    max_examples=max(EXAMPLES // 4, 50),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: to_json(v).encode()),
        st.builds(
            lambda entries, stamp: json.dumps(
                {"version": 1, "base_url": BASE, "fetched_at": stamp, "entries": entries}
            ).encode(),
            st.lists(
                st.dictionaries(
                    st.sampled_from(["id", "name", "price", "max_references"]), st.none()
                ),
                max_size=2,
            ),
            st.sampled_from(
                ["2026-01-01T00:00:00+00:00", "2026-01-01", "x", "9999-12-31T23:59:59-23:59"]
            ),
        ),
    )
)
def test_a_damaged_catalog_cache_never_breaks_loading(payload: bytes) -> None:
    path = catalog_cache.cache_path(BASE)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    result = catalog_cache.load_catalog(BASE, offline=True)
    for model in MODELS:
        assert model.id in result.entries


def test_the_strategies_reach_the_interesting_shapes() -> None:
    """Guard against strategies that silently stop producing parseable bodies."""
    body = {"data": [{"b64_json": _b64(TINY_PNG)}], "usage": {"cost": Decimal("0.03")}}
    parsed = wire.parse_images_success(wire.loads(to_json(body).encode()), {})
    assert parsed.usage.cost_micros == 30_000
