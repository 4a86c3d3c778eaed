"""What a fault makes of an answer: the error bodies OpenRouter sends for it
(docs/openrouter.md#status-codes, docs/openrouter.md#error-metadata), and the delays, drips,
drops and stray whitespace of the transport.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flux_cli.embedded_catalog import PROVIDER_NAME
from flux_cli.sandbox.faults import Fault, format_seconds
from flux_cli.sandbox.wire import SANDBOX_USER_ID, Reply, error_payload

# "a batch of newlines first, then the JSON" (docs/openrouter.md#errors-with-http-200)
LEADING_WHITESPACE = b"\n\n\n   \n\n"


# --- bodies ----------------------------------------------------------------------------------

# docs/openrouter.md#status-codes: the example body for each status.
_STATUS_MESSAGES = {
    400: "Invalid request parameters",
    401: "User not found.",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Your chosen model requires moderation and your input was flagged",
    404: "Resource not found",
    408: "Operation timed out. Please try again later.",
    413: "Request payload too large",
    422: "Invalid argument",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "Service temporarily unavailable",
    524: "Request timed out. Please try again later.",
    529: "Provider returned error",
}


def _provider_metadata(raw: str) -> dict[str, Any]:
    # docs/openrouter.md#error-metadata "Provider error": metadata.raw (upstream text) and
    # provider_name.
    return {"raw": raw, "provider_name": PROVIDER_NAME, "is_byok": False}


def _truncate_middle(text: str, limit: int = 100) -> str:
    # docs/openrouter.md#error-metadata moderation: flagged_input is at most 100 characters,
    # middle-truncated with "...".
    if len(text) <= limit:
        return text
    keep = (limit - 3) // 2
    return text[:keep] + "..." + text[-(limit - 3 - keep) :]


def status_reply(
    fault: Fault, route: str, *, model_id: str | None, prompt: str | None, generation_id: str
) -> Reply:
    """The error response a status fault stands for, with its body and headers
    (docs/openrouter.md#status-codes, docs/openrouter.md#error-metadata)."""
    assert fault.status is not None
    status = fault.status
    message = _STATUS_MESSAGES.get(status) or _phrase(status)
    metadata: dict[str, Any] | None = None
    user_id: str | None = None
    headers = dict(fault.headers)
    retry_after = None if fault.retry_after is None else float(fault.retry_after)
    if retry_after is None and "Retry-After" in headers:
        try:
            retry_after = float(headers["Retry-After"])
        except ValueError:
            retry_after = None
    elif retry_after is not None:
        headers.setdefault("Retry-After", format_seconds(retry_after))

    if status == 404 and route == "generation":
        message = f"Generation {generation_id} not found"  # docs/openrouter.md#generation-lookup
    elif status == 402:
        user_id = SANDBOX_USER_ID
        if fault.variant == "key-limit":
            # docs/openrouter.md#error-metadata, recorded on the chat route with a spend-limited
            # key.
            message = "This request requires at least $1.00 in balance for image or video output"
            metadata = {
                "limit_source": "openrouter_key_limit",
                "remedy_hint": "Raise or remove this API key's usage limit",
                "provider_name": None,
                "previous_errors": [{"code": 402, "message": message}],
            }
        elif fault.variant == "max-tokens":
            message = (
                "This request requires more credits, or fewer max_tokens. "
                "You requested up to 16384 tokens, but can only afford 3324."
            )
            metadata = {"limit_source": "openrouter_credits"}
        elif fault.variant == "in-flight":
            # Documented body (docs/openrouter.md#error-metadata); asks the caller to wait.
            message = (
                "This request would exceed your available credits given your current in-flight "
                "requests. Retry after in-flight requests settle, or add credits."
            )
            metadata = {
                "reason": "in_flight_budget_exhausted",
                "limit_source": "openrouter_in_flight_budget",
                "remedy_hint": "Retry after your in-flight requests settle (see the Retry-After "
                "header). Adding credits at https://openrouter.ai/settings/credits raises your "
                "in-flight budget, up to a capped ceiling.",
            }
            headers.setdefault("Retry-After", format_seconds(retry_after) if retry_after else "1")
        elif fault.variant == "credits":
            metadata = {"limit_source": "openrouter_credits"}
    elif status == 403:
        if fault.variant == "management":
            message = (
                "Only management keys can perform this operation"  # docs/openrouter.md#credits
            )
        elif fault.variant == "budget":
            # A spent key budget (docs/openrouter.md#error-metadata); the live wording is not
            # recorded, the layer and its reset come from /key's budgets[].
            user_id = SANDBOX_USER_ID
            message = (
                "Key budget exceeded: the api_key budget of $1 (daily) is spent; "
                "it resets at 2026-10-03T00:00:00Z"
            )
            metadata = {
                "limit_source": "api_key_budget",
                "scope": "api_key",
                "reset_interval": "daily",
                "resets_at": "2026-10-03T00:00:00Z",
            }
        else:
            # docs/openrouter.md#error-metadata moderation metadata.
            metadata = {
                "reasons": ["sexual"],
                "flagged_input": _truncate_middle(prompt or ""),
                "provider_name": PROVIDER_NAME,
                "model_slug": model_id or "",
            }
    elif status == 429:
        if fault.variant == "upstream":
            # docs/openrouter.md#error-metadata: the recorded upstream 429, for Black Forest Labs.
            message = "Provider returned error"
            user_id = SANDBOX_USER_ID
            metadata = {
                **_provider_metadata(
                    f"{model_id or 'the model'} is temporarily rate-limited upstream. "
                    "Please retry shortly."
                ),
                "provider_error_code": "rate_limit_exceeded",
                "limit_source": "upstream_provider_shared_pool",
                "remedy_hint": "Retry shortly",
            }
        else:
            metadata = {"error_type": "rate_limit_exceeded"}  # docs/openrouter.md#status-codes
        if retry_after is not None:
            seconds = int(retry_after) if retry_after.is_integer() else retry_after
            metadata["retry_after_seconds"] = (
                seconds  # recorded as an integer (docs/openrouter.md#error-metadata)
            )
            metadata["retry_after_seconds_raw"] = seconds
            metadata["headers"] = {
                "Retry-After": headers.get("Retry-After", format_seconds(retry_after))
            }
    elif status >= 500 and fault.variant == "moderated":
        # Moderation on a 5xx: a provider error whose raw text says so
        # (docs/openrouter.md#error-metadata).
        message = "Provider returned error"
        user_id = SANDBOX_USER_ID
        metadata = _provider_metadata("Request Moderated: the content was flagged by moderation")
    elif status in (502, 529):
        user_id = SANDBOX_USER_ID
        raw = (
            "Black Forest Labs: generation failed (sandbox fault)"
            if status == 502
            else "Black Forest Labs: overloaded, try again later (sandbox fault)"
        )
        metadata = _provider_metadata(raw)
    if fault.message is not None:
        message = fault.message

    if fault.body is None:
        return Reply(
            status, error_payload(status, message, metadata, user_id=user_id), headers=headers
        )
    if isinstance(fault.body, bytes):
        return Reply(status, raw=fault.body, headers=headers)
    if isinstance(fault.body, str):
        return Reply(status, raw=fault.body.encode("utf-8"), headers=headers)
    return Reply(status, dict(fault.body), headers=headers)


# docs/openrouter.md#error-metadata: the typed error codes (OpenAPI `ApiErrorType`), by HTTP status.
ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limit_exceeded",
    500: "server",
    502: "provider_unavailable",
    503: "provider_unavailable",
    524: "timeout",
    529: "provider_overloaded",
}


def stream_error(fault: Fault) -> dict[str, Any]:
    """The `error` of a mid-stream error chunk: code, message, metadata.error_type
    (docs/openrouter.md#streaming)."""
    code = fault.status or 502
    return {
        "code": code,
        "message": fault.message or _STATUS_MESSAGES.get(code) or _phrase(code),
        "metadata": {"error_type": ERROR_TYPES.get(code, "unmapped")},
    }


def error_in_200_payload(fault: Fault) -> dict[str, Any]:
    """An HTTP 200 whose body is only an error (+ user_id): the generation failed, not billed
    (docs/openrouter.md#errors-with-http-200)."""
    code = fault.status or 502
    message = fault.message or _STATUS_MESSAGES.get(code) or _phrase(code)
    metadata = _provider_metadata("Black Forest Labs: generation failed after it started")
    return error_payload(code, message, metadata, user_id=SANDBOX_USER_ID)


def apply_transport(reply: Reply, fault: Fault | None) -> Reply:
    """Delay, drip, extra headers, dropped connections and leading whitespace."""
    if fault is None:
        return reply
    reply.delay += fault.delay
    if fault.drip is not None:
        reply.drip = fault.drip
    if fault.kind != "status":
        reply.headers.update(fault.headers)
    if fault.kind == "leading-whitespace":
        reply.prefix = LEADING_WHITESPACE
    elif fault.kind == "drop":
        reply.drop = True
    elif fault.kind == "drop-after-headers":
        reply.drop_after_headers = True
    reply.note = fault.describe()
    return reply


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
