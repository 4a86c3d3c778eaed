"""Every way an OpenRouter call can fail, each carrying its exit code (README "Exit codes").

OpenRouterError
├── APIError                       an error the server reported (HTTP status or 200 body)
│   ├── BadRequestError            400 404 405 413 422 and other 4xx   → 2
│   │   └── UnexpectedStatusError  1xx, 3xx (never followed), 501, 505  → 10
│   ├── AuthenticationError        401, 403 for the key                 → 4
│   ├── PaymentRequiredError       402, 403 for a spent key budget      → 5
│   ├── ModerationError            403 moderation, content policy       → 6
│   ├── UnavailableError           408 429 502 503 529 after retries    → 8
│   └── ServerOutcomeUnknownError  500 504 524: may have been billed    → 9
├── ConnectionFailedError          nothing was sent (DNS, refused, TLS) → 8
├── OutcomeUnknownError            sent, no complete answer             → 9
└── BadResponseError               malformed body, no image, bad image  → 10
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flux_cli.errors import Flux2Error
from flux_cli.exit_codes import ExitCode


class OpenRouterError(Flux2Error):
    """Base of every transport failure."""

    #: Whether the failed attempt may have been billed.
    may_be_billed: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        generation_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, hint=hint)
        self.generation_id = generation_id
        self.attempts = attempts


class APIError(OpenRouterError):
    """The server answered with an error envelope (docs/openrouter.md#envelope)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | str | None = None,
        error_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        in_200_body: bool = False,
        hint: str | None = None,
        generation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint, generation_id=generation_id)
        self.status = status
        self.code = code
        self.error_type = error_type
        self.metadata = metadata or {}
        self.in_200_body = in_200_body
        self.retry_after = retry_after


class BadRequestError(APIError):
    exit_code = ExitCode.USAGE


class AuthenticationError(APIError):
    exit_code = ExitCode.AUTH


class PaymentRequiredError(APIError):
    exit_code = ExitCode.CREDITS


def is_key_budget(message: str, metadata: Mapping[str, Any]) -> bool:
    """A 403 that is a spent budget layer, not a permission problem
    (docs/openrouter.md#error-metadata).
    The live wording is not recorded: a budget `limit_source` or `scope`, or "budget" said."""
    source = metadata.get("limit_source")
    if isinstance(source, str) and "budget" in source.lower():
        return True
    if metadata.get("scope") in _BUDGET_SCOPES:
        return True
    return "budget" in message.lower()


_BUDGET_SCOPES = frozenset(
    {
        "workspace_default_member",
        "workspace_default_key",
        "member",
        "api_key",
        "workspace",
        "key_limit",
    }
)


def key_budget_error(what: str, metadata: Mapping[str, Any], common: dict[str, Any]) -> APIError:
    from flux_cli.textsafe import strip_control

    scope = metadata.get("scope")
    resets = metadata.get("resets_at")
    layer = (
        f"the key's {strip_control(scope, limit=40)} budget"
        if isinstance(scope, str)
        else ("a budget of this key")
    )
    when = (
        f"; it resets at {strip_control(resets, limit=40)}"
        if isinstance(resets, str) and resets
        else ""
    )
    return PaymentRequiredError(
        f"{layer} is spent ({what}){when}",
        hint="wait for the reset, or raise the budget at https://openrouter.ai/settings/keys; "
        "nothing was billed (flux2 balance shows the key's budgets)",
        **common,
    )


class ModerationError(APIError):
    exit_code = ExitCode.MODERATION


class UnavailableError(APIError):
    exit_code = ExitCode.UNAVAILABLE


class UnexpectedStatusError(BadRequestError):
    """A status flux2 cannot use: 1xx, a redirect (never followed, the key stays put), 501, 505.

    A BadRequestError for callers that switch on `status`, but a bad response (exit 10):
    nothing flux2 can use."""

    exit_code = ExitCode.BAD_RESPONSE


class ServerOutcomeUnknownError(APIError):
    exit_code = ExitCode.OUTCOME_UNKNOWN
    may_be_billed = True


class ConnectionFailedError(OpenRouterError):
    """The request never left: DNS, refused connection, TLS, proxy. Safe to retry."""

    exit_code = ExitCode.UNAVAILABLE


class OutcomeUnknownError(OpenRouterError):
    """The request was sent but no complete answer came back: it may have been billed."""

    exit_code = ExitCode.OUTCOME_UNKNOWN
    may_be_billed = True


class BadResponseError(OpenRouterError):
    """The answer was not something flux2 can use: malformed JSON, no image, bad image bytes."""

    exit_code = ExitCode.BAD_RESPONSE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        generation_id: str | None = None,
        attempts: int = 1,
        cost_micros: int | None = None,
        raw: bytes | None = None,
    ) -> None:
        super().__init__(message, hint=hint, generation_id=generation_id, attempts=attempts)
        self.cost_micros = cost_micros
        self.cost_unusable: str | None = None  # a reported charge that is not one (wire.Usage)
        self.raw = raw  # image bytes that failed validation, kept so they can be rescued

    def with_unusable(self, reported: str | None) -> BadResponseError:
        """This error, carrying the answer's `usage.cost` that is not a usable charge."""
        self.cost_unusable = reported
        return self
