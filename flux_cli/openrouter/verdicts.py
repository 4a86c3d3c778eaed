"""What one whole answer means to the client: retry, fail, succeed or "may have been billed";
the error said when flux2 gives up or the server asks for too long a wait; and what a 2xx body
holds (the image's answer, or the JSON of a GET). Pure functions over a `transport.Raw`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flux_cli.openrouter import answers as A
from flux_cli.openrouter import errors as E
from flux_cli.openrouter import wire
from flux_cli.openrouter.retry import (
    MAX_RETRY_AFTER,
    RETRY_AFTER_CEILING,
    Decision,
    body_allows_retry,
    classify_status,
    describe_wait,
    parse_retry_after,
)
from flux_cli.openrouter.transport import Raw

__all__ = ["exhausted", "get_success", "judge", "parse_success", "too_long"]


def judge(
    raw: Raw, wall_clock: Callable[[], float]
) -> tuple[Decision, E.OpenRouterError, float | None]:
    """What to do after this answer, the error it amounts to, and the wait it asks for."""
    decision = classify_status(raw.status)
    if decision is Decision.SUCCESS:
        return decision, E.OpenRouterError("ok"), None
    obj: object = None
    if raw.body:
        try:
            obj = wire.loads(raw.body)
        except E.BadResponseError:
            obj = None  # an HTML error page from a proxy or the edge (a 524, say)
    info = wire.error_info(obj)
    error = A.api_error(raw.status, raw.headers, info)
    raw_error = info.raw if info is not None else {}
    allowed = body_allows_retry(raw.status, raw_error)
    if info is not None and info.moderation:
        allowed = False  # refused the same way every time (docs/reliability.md#double-charges)
    if allowed is False and decision in (Decision.RETRY, Decision.UNKNOWN):
        decision = Decision.FAIL
    elif allowed is True and decision is Decision.FAIL:
        decision = Decision.RETRY
    retry_after = parse_retry_after(raw.headers, raw_error, now=wall_clock)
    return decision, error, retry_after


def exhausted(error: E.OpenRouterError, attempts: int) -> E.OpenRouterError:
    """The error of the last attempt, saying how many were made when none can have been billed."""
    if isinstance(error, (E.ConnectionFailedError, E.APIError)) and not error.may_be_billed:
        error.message = (
            f"{error.message} (gave up after {attempts} attempt{'' if attempts == 1 else 's'})"
        )
        error.args = (error.message,)
    return error


def too_long(error: E.OpenRouterError, wait: float, attempts: int) -> E.OpenRouterError:
    """The error of an answer that asked to wait `wait` seconds, longer than flux2 waits."""
    asked = "a day or more" if wait >= RETRY_AFTER_CEILING else f"{wait:g} s"
    error.message = (
        f"{error.message}; the server asked to wait {asked}, longer than flux2 waits "
        f"({MAX_RETRY_AFTER:g} s)"
    )
    error.args = (error.message,)
    error.hint = f"nothing was billed; run again in {describe_wait(wait)}"
    error.attempts = attempts
    return error


def get_success(raw: Raw, path: str) -> object:
    """The JSON of a 2xx answer to GET `path`; an error envelope inside it is raised."""
    content_type = raw.headers.get("content-type", "")
    if "json" not in content_type.lower():
        raise E.BadResponseError(
            f"the server answered GET /{path} with "
            f"{wire.server_text(content_type) or 'no content type'}, not JSON"
        )
    obj = wire.loads(raw.body)
    info = wire.error_info(obj)
    if info is not None:
        status = info.code if isinstance(info.code, int) and 400 <= info.code <= 599 else 500
        error = A.api_error(status, raw.headers, info)
        if isinstance(error, E.ServerOutcomeUnknownError):
            error = A.unavailable(status, info)
        error.in_200_body = True
        raise error
    return obj


def parse_success(raw: Raw, route: str) -> wire.ParsedImage:
    """The image answer of a 2xx on `route`; an error inside it is raised as that error."""
    generation_id = A.generation_id_of(raw.headers)
    content_type = raw.headers.get("content-type", "")
    if "json" not in content_type.lower():
        raise E.BadResponseError(
            f"the server answered {content_type or 'without a content type'}, not JSON"
            + A.id_note(generation_id),
            generation_id=generation_id,
        )
    obj = wire.loads(raw.body, non_finite=True)  # a NaN cost must not lose a paid image
    info = wire.error_info(obj)
    if info is None and route == "chat":
        info = wire.choice_error(obj)
    if info is not None:
        usage = wire.parse_usage(obj.get("usage") if isinstance(obj, Mapping) else None)
        error = A.error_in_200(info, generation_id, usage.cost_micros)
        if isinstance(error, E.BadResponseError):
            error.with_unusable(usage.cost_unusable)
        raise error
    if route == "images":
        return wire.parse_images_success(obj, raw.headers)
    return wire.parse_chat_success(obj, raw.headers)
