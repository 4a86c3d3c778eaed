"""What the sandbox's routes take and give: a parsed request, a reply, and the error envelope.

Every error body follows the envelope `{"error": {"code", "message", "metadata"?}, "user_id"?}`,
with the HTTP status equal to `error.code` ("The HTTP Response will have the same status code as
`error.code`", docs/openrouter.md#envelope).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flux_cli.embedded_catalog import PROVIDER_NAME

# A made-up account id for the bodies that carry one (recorded shapes in
# docs/openrouter.md#error-metadata and docs/openrouter.md#errors-with-http-200 have `user_id`).
SANDBOX_USER_ID = "user_sandbox"

JSON_TYPE = "application/json"

# Reason phrases for the status line; 524 and 529 are Cloudflare/OpenRouter codes http.HTTPStatus
# does not know.
EXTRA_REASONS = {524: "A Timeout Occurred", 529: "Site Is Overloaded"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the /api/v1 prefix, e.g. "/images"
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """A response before it is written: the body plus how to deliver it (for fault injection)."""

    status: int
    payload: Any = None  # serialised as JSON unless `raw` is set
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    events: list[bytes] | None = None  # SSE: each element is written and flushed as one chunk
    delay: float = 0.0  # seconds before the status line
    # How long the generation takes, counted from the request's arrival: the answer leaves no
    # earlier than this, however long rendering took (the real API's time is end to end too).
    latency: float = 0.0
    drip: tuple[int, float] | None = None  # (bytes per chunk, seconds between chunks)
    # written before the body (keep-alive whitespace, docs/openrouter.md#errors-with-http-200)
    prefix: bytes = b""
    drop: bool = False  # close the connection without answering
    drop_after_headers: bool = False  # send the head and part of the body, then close
    note: str = ""  # for the request log

    def body_bytes(self) -> bytes:
        if self.events is not None:
            body = b"".join(self.events)
        elif self.raw is not None:
            body = self.raw
        elif self.payload is None:
            body = b""
        else:
            body = dump_json(self.payload)
        return self.prefix + body


def dump_json(payload: Any) -> bytes:
    # Compact like the real API; floats keep Python's shortest round-trip repr, so 0.045 stays
    # 0.045.
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_payload(
    code: int,
    message: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    user_id: str | None = None,
) -> dict[str, Any]:
    # docs/openrouter.md#envelope envelope; recorded bodies put "message" before "code"
    # (docs/openrouter.md#status-codes, docs/openrouter.md#error-metadata).
    error: dict[str, Any] = {"message": message, "code": code}
    if metadata is not None:
        error["metadata"] = dict(metadata)
    body: dict[str, Any] = {"error": error}
    if user_id is not None:
        body["user_id"] = user_id
    return body


class ApiError(Exception):
    """Raised inside a route to answer with an OpenRouter error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.metadata = metadata
        self.user_id = user_id
        self.headers = dict(headers or {})

    def reply(self) -> Reply:
        payload = error_payload(self.status, self.message, self.metadata, user_id=self.user_id)
        return Reply(self.status, payload, headers=dict(self.headers))


def invalid_request(detail: str) -> ApiError:
    # docs/openrouter.md#status-codes's 400 message, with what was wrong appended (the real wording
    # for schema failures is not recorded; see docs/openrouter.md#not-confirmed).
    return ApiError(400, f"Invalid request parameters: {detail}", {"error_type": "invalid_request"})


def capability_rejection(
    model_id: str, rejections: list[tuple[str, str, str]], provider: str = PROVIDER_NAME
) -> ApiError:
    """docs/openrouter.md#error-metadata: recorded capability rejection on /images.

    Each rejection is (parameter, shown value, reason). Recorded with one parameter:
    `... parameter(s): n "5". Provider rejections: Black Forest Labs: n: must be exactly 1`; several
    are joined with ", " and "; " (INFERRED).
    """
    params = ", ".join(f'{name} "{value}"' for name, value, _ in rejections)
    reasons = "; ".join(f"{name}: {reason}" for name, _, reason in rejections)
    return ApiError(
        400,
        f"No provider for {model_id} supports the requested parameter(s): {params}. "
        f"Provider rejections: {provider}: {reasons}",
        {
            "routing_funnel": [{"step": "Initial Endpoints", "endpoint_count": 1}],
            "failed_routing_step": "Filter by Image Capabilities",
        },
    )


def provider_error(status: int, raw: str) -> ApiError:
    # docs/openrouter.md#error-metadata "Provider error": generic message, the upstream text in
    # metadata.raw.
    return ApiError(
        status,
        "Provider returned error",
        {"raw": raw, "provider_name": PROVIDER_NAME, "is_byok": False},
        user_id=SANDBOX_USER_ID,
    )


def image_error(index: int, error_type: str, detail: str, status: int = 400) -> ApiError:
    # docs/openrouter.md#references-and-size-limits: typed image errors (invalid_image,
    # image_too_large, unsupported_image_format, ...) in metadata.error_type
    # (docs/openrouter.md#error-metadata); the message wording is not recorded.
    return ApiError(status, f"Reference image {index + 1}: {detail}", {"error_type": error_type})
