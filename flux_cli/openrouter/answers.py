"""What an OpenRouter answer means: the typed error each status or error body maps to.

Pure functions over the status, headers and parsed error body (no network); the client decides
what to do with them (retry, fail, report as maybe billed).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flux_cli.openrouter import errors as E
from flux_cli.openrouter import wire
from flux_cli.openrouter.retry import Decision, classify_status
from flux_cli.redact import redact

UNKNOWN_HINT = (
    "check your OpenRouter activity before running it again; "
    "--retry-ambiguous lets flux2 retry such failures once by itself"
)


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return wire.server_text(redact(text))


def certificate_failed(exc: BaseException) -> bool:
    """The server's TLS certificate did not verify: retrying cannot help, and is never downgraded."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def proxy_note(base_url: str) -> str:
    """` through the proxy http://host:port` when the environment sends `base_url` via one."""
    from urllib.request import getproxies_environment, proxy_bypass

    parts = urlsplit(base_url)
    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or proxy_bypass(parts.hostname or ""):
        return ""
    try:
        p = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        where = f"{p.scheme}://{p.hostname}" + (f":{p.port}" if p.port else "")
    except ValueError:
        return " through a proxy (HTTPS_PROXY)"
    return f" through the proxy {wire.server_text(where)}"  # credentials in the URL left out


def generation_id_of(headers: Mapping[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == "x-generation-id":
            return wire.server_text(value) or None
    return None


def id_note(generation_id: str | None) -> str:
    return f" (generation id {generation_id})" if generation_id else ""


def api_error(status: int, headers: Mapping[str, str], info: wire.ErrorInfo | None) -> E.APIError:
    generation_id = generation_id_of(headers)
    if info is None:
        phrase = reason_phrase(status)
        info = wire.ErrorInfo(status, phrase, None, {}, {})
    detail = wire.detail_of(info)
    what = f"{status} {detail}" if detail else str(status)
    common: dict[str, Any] = {
        "status": status,
        "code": info.code,
        "error_type": info.error_type,
        "metadata": dict(info.metadata),
        "generation_id": generation_id,
    }
    if info.moderation and status >= 400:
        # Moderation comes on any status, a 5xx provider error too (docs/openrouter.md#error-metadata).
        flagged = wire.server_text(info.metadata.get("flagged_input"))
        return E.ModerationError(
            f"refused by content moderation ({what})"
            + (f"; flagged: {flagged!r}" if flagged else ""),
            hint="rephrase the prompt; nothing was generated or billed",
            **common,
        )
    if status == 401:
        return E.AuthenticationError(
            f"OpenRouter rejected the API key ({what})",
            hint="check OPENROUTER_API_KEY; keys are listed at https://openrouter.ai/settings/keys",
            **common,
        )
    if status == 403 and E.is_key_budget(info.message, info.metadata):
        return E.key_budget_error(what, info.metadata, common)
    if status in {403, 407}:
        return E.AuthenticationError(
            f"the API key is not allowed to do this ({what})",
            hint="check the key's permissions at https://openrouter.ai/settings/keys",
            **common,
        )
    if status == 402 and info.metadata.get("limit_source") == "openrouter_in_flight_budget":
        # Wait, not "add credits" (docs/openrouter.md#error-metadata): retried after Retry-After,
        # and if it persists, nothing was billed and a later run will go through.
        return E.UnavailableError(
            f"requests in flight would exceed the available credits ({what}); nothing was billed",
            hint="try again once earlier requests have finished",
            **common,
        )
    if status == 402:
        source = info.metadata.get("limit_source")
        hint = (
            "raise or remove this key's limit at https://openrouter.ai/settings/keys"
            if source == "openrouter_key_limit"
            else "add credits at https://openrouter.ai/credits; nothing was billed"
        )
        return E.PaymentRequiredError(
            f"out of credits or over the key's limit ({what})", hint=hint, **common
        )
    decision = classify_status(status)
    if decision is Decision.RETRY:
        return E.UnavailableError(
            f"OpenRouter is temporarily unavailable ({what}); nothing was billed",
            hint="it is safe to run the same command again later",
            **common,
        )
    if decision is Decision.UNKNOWN:
        return E.ServerOutcomeUnknownError(
            f"the server failed after receiving the request ({what}); it may have been billed"
            + id_note(generation_id),
            hint=UNKNOWN_HINT,
            **common,
        )
    if 300 <= status < 400:
        location = wire.server_text(headers.get("location", ""))
        return E.UnexpectedStatusError(
            f"the server redirected the request ({status}{' to ' + location if location else ''}); "
            "flux2 does not follow redirects with your key",
            hint="check FLUX2_BASE_URL",
            **common,
        )
    if 400 <= status < 500:
        fallbacks = fallback_models(info)
        return E.BadRequestError(
            f"OpenRouter refused the request ({what})",
            hint=(
                f"OpenRouter suggests: {', '.join(fallbacks)}"
                if fallbacks
                else "check the model and options; `flux2 generate --help` lists them"
            ),
            **common,
        )
    return E.UnexpectedStatusError(f"unexpected answer from the server ({what})", **common)


def fallback_models(info: wire.ErrorInfo) -> list[str]:
    """`error.availability.fallback_models` (docs/openrouter.md#error-metadata), as safe text."""
    availability = info.raw.get("availability")
    models = availability.get("fallback_models") if isinstance(availability, Mapping) else None
    if not isinstance(models, list):
        return []
    return [wire.server_text(m)[:100] for m in models[:5] if isinstance(m, str) and m.strip()]


def body_info(body: bytes) -> wire.ErrorInfo | None:
    try:
        return wire.error_info(wire.loads(body)) if body else None
    except E.BadResponseError:
        return None  # an HTML error page from a proxy or the edge


def unavailable(status: int, info: wire.ErrorInfo | None) -> E.UnavailableError:
    """A 5xx answer to a GET: nothing was billed, whatever the status means for generation."""
    if info is None:
        info = wire.ErrorInfo(status, reason_phrase(status), None, {}, {})
    detail = wire.detail_of(info)
    return E.UnavailableError(
        f"OpenRouter failed to answer ({status} {detail})".replace(" )", ")"),
        status=status,
        code=info.code,
        error_type=info.error_type,
        metadata=dict(info.metadata),
        hint="nothing was billed; run again later",
    )


def error_in_200(
    info: wire.ErrorInfo, generation_id: str | None, cost: int | None
) -> E.OpenRouterError:
    """An error inside an HTTP 200 body: the generation started and failed (docs/openrouter.md#errors-with-http-200). Never retried."""
    status = info.code if isinstance(info.code, int) and 100 <= info.code <= 599 else 500
    if info.moderation and not 400 <= status < 500:
        status = 403  # a content-policy error with a string code: moderation, whatever the code
    if info.moderation or status in {401, 402, 403}:
        mapped = api_error(status, {"x-generation-id": generation_id or ""}, info)
        mapped.in_200_body = True
        return mapped
    return E.BadResponseError(
        f"the server reported an error inside a successful answer ({wire.detail_of(info)})"
        + id_note(generation_id),
        hint="no image came back; run again, or try --api chat / --api images",
        generation_id=generation_id,
        cost_micros=cost,
    )


def reason_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return {524: "A timeout occurred", 529: "Site is overloaded"}.get(status, "")
