"""The OpenRouter client: one `httpx.Client`, two routes, billing-aware retries.

The network sits behind `transport=` (an `httpx.MockTransport` in unit tests, real loopback HTTP
against the sandbox everywhere else); sleeping, the clock and jitter are injected too, so the
retry loop is tested without waiting.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from flux_cli import __version__
from flux_cli.config import ApiKey, is_loopback_host, validate_base_url
from flux_cli.openrouter import errors as E
from flux_cli.openrouter import wire
from flux_cli.openrouter.retry import (
    DEFAULT_MAX_RETRIES,
    MAX_RETRY_AFTER,
    Decision,
    body_allows_retry,
    classify_status,
    parse_retry_after,
    retry_delay,
)
from flux_cli.openrouter.wire import ImageRequest, Usage
from flux_cli.redact import redact

ROUTES = ("images", "chat")
#: One FLUX image is at most ~4 MP; a worst-case 4 MP PNG is ~17 MB as base64 (reliability §2.2).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_BYTES = 24 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 256 * 1024
REFERER = "https://pypi.org/project/flux2-cli/"
TITLE = "flux2"


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `attempt` is the wall-clock limit of one attempt (httpx has none of its own)."""

    connect: float = 10.0
    write: float = 60.0
    read: float = 180.0
    pool: float = 10.0
    attempt: float = 300.0


@dataclass(frozen=True)
class ImageResult:
    data: bytes
    format: str  # what the bytes are, sniffed and decoded: "png", "jpeg" or "webp"
    width: int
    height: int
    media_type: str | None  # what the server said they are
    usage: Usage
    generation_id: str | None
    provider: str | None
    route: str
    elapsed_s: float
    attempts: int

    @property
    def cost_micros(self) -> int | None:
        return self.usage.cost_micros


@dataclass(frozen=True)
class RetryNotice:
    attempt: int  # the attempt that failed, 1-based
    delay: float
    reason: str


@dataclass(frozen=True)
class _Raw:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _NotSent(Exception):
    """Failed before any byte of the request could have reached the server."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.final = final  # will not heal by trying again (a certificate that fails to verify)


class _NoAnswer(Exception):
    """Sent (or partly sent), and no response headers came back."""


class _BodyLost(Exception):
    def __init__(self, reason: str, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers


class OpenRouterClient:
    def __init__(
        self,
        base_url: str,
        api_key: ApiKey,
        *,
        transport: httpx.BaseTransport | None = None,
        timeouts: Timeouts | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_ambiguous: int = 0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[RetryNotice], None] | None = None,
        lanes: int = 1,
    ) -> None:
        """`lanes`: how many connection pools to keep, for as many requests at once (see
        `generate`); every other call goes through the first."""
        self.base_url = validate_base_url(base_url)
        self._host = urlsplit(self.base_url).hostname or ""
        self._via = "" if transport is not None else _proxy_note(self.base_url)
        self.timeouts = timeouts or Timeouts()
        self.max_retries = max(0, max_retries)
        self.retry_ambiguous = max(0, retry_ambiguous)
        self._sleep, self._clock, self._wall_clock, self._rand = sleep, clock, wall_clock, rand
        self._on_retry = on_retry
        self._transport = transport
        common_headers = {"User-Agent": f"flux2/{__version__}", "Accept": "application/json"}
        headers = {
            **common_headers,
            "Authorization": f"Bearer {api_key.value}",
            "HTTP-Referer": REFERER,
            "X-OpenRouter-Title": TITLE,
        }
        # Lanes share one TLS context: building one loads the CA bundle.
        verify: ssl.SSLContext | bool = (
            httpx.create_ssl_context()
            if lanes > 1 and transport is None and urlsplit(self.base_url).scheme == "https"
            else True
        )
        self._lanes = [
            httpx.Client(
                base_url=self.base_url + "/",
                headers=headers,
                transport=transport
                if transport is not None
                else _plain_http_transport(self.base_url),
                verify=verify,
                follow_redirects=False,  # the key goes to the configured host and nowhere else
                timeout=self._httpx_timeout(self.timeouts.attempt),
            )
            for _ in range(max(1, lanes))
        ]
        self._http = self._lanes[0]
        self._common_headers = common_headers

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        for http in self._lanes:
            http.close()

    def __enter__(self) -> OpenRouterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one public call -----------------------------------------------------------------
    def generate(
        self,
        request: ImageRequest,
        route: str = "images",
        *,
        on_answer: Callable[[], None] | None = None,
        lane: int = 0,
    ) -> ImageResult:
        """Send one generation (with retries) and check what comes back.

        `on_answer` is called once the final answer's body has arrived, before it is parsed
        and the image checked: a batch lets its next request go then. `lane`: which connection
        pool to use; requests sent at once from several threads go faster each through its own,
        as they then never wait for one another's pool lock."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}")
        path, body = (
            ("images", wire.images_body(request))
            if route == "images"
            else ("chat/completions", wire.chat_body(request))
        )
        started = self._clock()
        raw, attempts = self._send_with_retries(path, body, self._lanes[lane])
        if on_answer is not None:
            on_answer()
        parsed = self._parse_success(raw, route)
        # Each form of the image is let go as soon as the next exists, so at most two are alive
        # at once (body and parsed JSON, then base64 text and bytes): peak memory stays near
        # twice the response size rather than four times.
        del raw
        data = self._image_bytes(parsed)
        parsed = replace(parsed, encoded="")
        info = _inspect(data, parsed)
        del data
        return ImageResult(
            data=info[0],
            format=info[1],
            width=info[2],
            height=info[3],
            media_type=parsed.media_type,
            usage=parsed.usage,
            generation_id=parsed.generation_id,
            provider=parsed.provider,
            route=route,
            elapsed_s=self._clock() - started,
            attempts=attempts,
        )

    # -- authenticated GETs (key, credits, generation lookups) ---------------------------------
    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> object:
        """GET `path` (relative to the base URL) with the key; the JSON body of a 2xx answer.

        A GET changes nothing and costs nothing, so everything transient is retried with the
        same backoff and Retry-After rules as generation: failures to connect, answers that never
        came, 408, 429 and every 5xx. Errors map as for generation (401/403 → exit 4, 404 and other
        4xx → exit 2), except that a 5xx is never "may have been billed": it is UnavailableError.
        An error envelope inside a 2xx body is raised as the error it describes.
        """
        attempts = 0
        retries = 0
        while True:
            attempts += 1
            retry_after: float | None = None
            error: E.OpenRouterError
            try:
                raw = self._attempt(path, None, method="GET", params=params)
            except (_NotSent, _NoAnswer, _BodyLost) as exc:
                decision = Decision.RETRY
                error = E.ConnectionFailedError(
                    f"no answer from {self._host} to GET /{path} ({exc})",
                    hint="check the network connection and any HTTPS_PROXY setting, then run again",
                )
            else:
                if 200 <= raw.status < 300:
                    return self._get_success(raw, path)
                decision, error, retry_after = self._judge(raw)
                if isinstance(error, E.ServerOutcomeUnknownError):
                    decision, error = Decision.RETRY, _unavailable(raw.status, _body_info(raw.body))
            error.attempts = attempts
            if decision is Decision.FAIL:
                raise error
            if retries >= self.max_retries:
                raise self._exhausted(error, attempts)
            self._pause(error, retries, retry_after, attempts)
            retries += 1

    def _get_success(self, raw: _Raw, path: str) -> object:
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
            error = _api_error(status, raw.headers, info)
            if isinstance(error, E.ServerOutcomeUnknownError):
                error = _unavailable(status, info)
            error.in_200_body = True
            raise error
        return obj

    # -- attempts ----------------------------------------------------------------------------
    def _httpx_timeout(self, remaining: float) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(
            connect=min(t.connect, remaining),
            read=min(t.read, remaining),
            write=min(t.write, remaining),
            pool=min(t.pool, remaining),
        )

    def _attempt(
        self,
        path: str,
        body: bytes | None,
        *,
        method: str = "POST",
        params: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> _Raw:
        deadline = self._clock() + self.timeouts.attempt
        headers_seen = False
        status, response_headers = 0, {}
        try:
            with (http or self._http).stream(
                method,
                path,
                content=body,
                params=params,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=self._httpx_timeout(self.timeouts.attempt),
            ) as response:
                headers_seen = True
                status, response_headers = response.status_code, dict(response.headers)
                cap = MAX_RESPONSE_BYTES if 200 <= status < 300 else MAX_ERROR_BODY_BYTES
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise _BodyLost(
                            f"the answer is larger than {cap // (1024 * 1024)} MiB",
                            status,
                            response_headers,
                        )
                    chunks.append(chunk)
                    if self._clock() > deadline:
                        raise _BodyLost(
                            f"the answer did not finish within {self.timeouts.attempt:g} s",
                            status,
                            response_headers,
                        )
                return _Raw(status, response_headers, b"".join(chunks))
        except _BodyLost:
            raise
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,
            httpx.ProxyError,
        ) as exc:
            raise _NotSent(_describe(exc), final=_certificate_failed(exc)) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            if headers_seen:
                raise _BodyLost(_describe(exc), status, response_headers) from None
            raise _NoAnswer(_describe(exc)) from None

    def _send_with_retries(
        self, path: str, payload: dict[str, Any], http: httpx.Client
    ) -> tuple[_Raw, int]:
        import json

        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        attempts = 0
        retries = 0
        ambiguous_retries = 0
        while True:
            attempts += 1
            retry_after: float | None = None
            error: E.OpenRouterError
            try:
                raw = self._attempt(path, body, http=http)
            except _NotSent as exc:
                decision = Decision.FAIL if exc.final else Decision.RETRY
                error = E.ConnectionFailedError(
                    f"could not reach {self._host}{self._via}: {exc}; nothing was sent",
                    hint="check the network connection and any HTTPS_PROXY setting, then run again",
                )
            except _NoAnswer as exc:
                decision = Decision.UNKNOWN
                error = E.OutcomeUnknownError(
                    f"the request was sent but no answer came back ({exc}); it may have been billed",
                    hint=_UNKNOWN_HINT,
                )
            except _BodyLost as exc:
                generation_id = _generation_id(exc.headers)
                if 200 <= exc.status < 300:
                    # The image was made and is being paid for: never send it again by ourselves.
                    raise E.OutcomeUnknownError(
                        f"the answer was cut off ({exc}); the image was probably made and billed"
                        + _id_note(generation_id),
                        hint=_UNKNOWN_HINT,
                        generation_id=generation_id,
                        attempts=attempts,
                    ) from None
                raw = _Raw(exc.status, exc.headers, b"")
                decision, error, retry_after = self._judge(raw)
            else:
                decision, error, retry_after = self._judge(raw)
                if decision is Decision.SUCCESS:
                    return raw, attempts
            error.attempts = attempts
            if decision is Decision.FAIL:
                raise error
            if decision is Decision.UNKNOWN:
                if ambiguous_retries >= self.retry_ambiguous or retries >= self.max_retries:
                    raise error
                ambiguous_retries += 1
            elif retries >= self.max_retries:
                raise self._exhausted(error, attempts)
            self._pause(error, retries, retry_after, attempts)
            retries += 1

    def _pause(
        self, error: E.OpenRouterError, retries: int, retry_after: float | None, attempts: int
    ) -> None:
        """Wait before the next attempt, as the server asked or by backoff; raise `error` when
        the server asks for longer than flux2 waits."""
        delay = retry_delay(retries, retry_after, self._rand)
        if delay is None:
            assert retry_after is not None
            raise self._too_long(error, retry_after, attempts)
        if self._on_retry is not None:
            self._on_retry(RetryNotice(attempts, delay, error.message))
        self._sleep(delay)

    def _judge(self, raw: _Raw) -> tuple[Decision, E.OpenRouterError, float | None]:
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
        error = _api_error(raw.status, raw.headers, info)
        raw_error = info.raw if info is not None else {}
        allowed = body_allows_retry(raw.status, raw_error)
        if info is not None and info.moderation:
            allowed = False  # refused the same way every time (docs/reliability.md#double-charges)
        if allowed is False and decision in (Decision.RETRY, Decision.UNKNOWN):
            decision = Decision.FAIL
        elif allowed is True and decision is Decision.FAIL:
            decision = Decision.RETRY
        retry_after = parse_retry_after(raw.headers, raw_error, now=self._wall_clock)
        return decision, error, retry_after

    def _exhausted(self, error: E.OpenRouterError, attempts: int) -> E.OpenRouterError:
        if isinstance(error, (E.ConnectionFailedError, E.APIError)) and not error.may_be_billed:
            error.message = f"{error.message} (gave up after {attempts} attempts)"
            error.args = (error.message,)
        return error

    def _too_long(self, error: E.OpenRouterError, wait: float, attempts: int) -> E.OpenRouterError:
        minutes = max(1, round(wait / 60))
        error.message = (
            f"{error.message}; the server asked to wait {wait:g} s, longer than flux2 waits "
            f"({MAX_RETRY_AFTER:g} s)"
        )
        error.args = (error.message,)
        error.hint = f"nothing was billed; run again in about {minutes} min"
        error.attempts = attempts
        return error

    # -- success bodies ----------------------------------------------------------------------
    def _parse_success(self, raw: _Raw, route: str) -> wire.ParsedImage:
        generation_id = _generation_id(raw.headers)
        content_type = raw.headers.get("content-type", "")
        if "json" not in content_type.lower():
            raise E.BadResponseError(
                f"the server answered {content_type or 'without a content type'}, not JSON"
                + _id_note(generation_id),
                generation_id=generation_id,
            )
        obj = wire.loads(raw.body)
        info = wire.error_info(obj)
        if info is None and route == "chat":
            info = wire.choice_error(obj)
        if info is not None:
            usage = wire.parse_usage(obj.get("usage") if isinstance(obj, Mapping) else None)
            raise _error_in_200(info, generation_id, usage.cost_micros)
        if route == "images":
            return wire.parse_images_success(obj, raw.headers)
        return wire.parse_chat_success(obj, raw.headers)

    def _image_bytes(self, parsed: wire.ParsedImage) -> bytes:
        from flux_cli import images

        try:
            if parsed.kind == "b64":
                return images.decode_base64_strict(parsed.encoded, max_bytes=MAX_IMAGE_BYTES)
            if parsed.kind == "data-url":
                return images.parse_data_url(parsed.encoded, max_bytes=MAX_IMAGE_BYTES)[1]
        except images.InvalidImage as exc:
            raise E.BadResponseError(
                f"the image data in the answer is corrupt ({exc.reason})"
                + _id_note(parsed.generation_id),
                generation_id=parsed.generation_id,
                cost_micros=parsed.usage.cost_micros,
            ) from None
        return self._download(parsed)

    def _download(self, parsed: wire.ParsedImage) -> bytes:
        """The chat route may return an http(s) URL instead of data (§4C). Fetch it without the
        key, https only (http for loopback), no redirects, size-capped."""
        url = parsed.encoded
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in {"https", "http"} or (
            parts.scheme == "http" and not is_loopback_host(host)
        ):
            raise E.BadResponseError(
                f"the image is at a URL flux2 will not fetch ({wire.server_text(url)[:80]})",
                generation_id=parsed.generation_id,
                cost_micros=parsed.usage.cost_micros,
            )
        try:
            with (
                httpx.Client(
                    transport=self._transport,
                    headers=self._common_headers,
                    follow_redirects=False,
                    timeout=self._httpx_timeout(self.timeouts.attempt),
                ) as plain,
                plain.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise E.BadResponseError(
                        f"downloading the image from {host} failed with HTTP {response.status_code}",
                        generation_id=parsed.generation_id,
                        cost_micros=parsed.usage.cost_micros,
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_IMAGE_BYTES:
                        raise E.BadResponseError(
                            f"the image at {host} is larger than {MAX_IMAGE_BYTES // 2**20} MiB",
                            generation_id=parsed.generation_id,
                            cost_micros=parsed.usage.cost_micros,
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise E.BadResponseError(
                f"downloading the image from {host} failed ({_describe(exc)})",
                generation_id=parsed.generation_id,
                cost_micros=parsed.usage.cost_micros,
            ) from None


_UNKNOWN_HINT = (
    "check your OpenRouter activity before running it again; "
    "--retry-ambiguous lets flux2 retry such failures once by itself"
)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return wire.server_text(redact(text))


def _certificate_failed(exc: BaseException) -> bool:
    """The server's TLS certificate did not verify: retrying cannot help, and is never downgraded."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _proxy_note(base_url: str) -> str:
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


def _generation_id(headers: Mapping[str, str]) -> str | None:
    for key, value in headers.items():
        if key.lower() == "x-generation-id":
            return wire.server_text(value) or None
    return None


def _id_note(generation_id: str | None) -> str:
    return f" (generation id {generation_id})" if generation_id else ""


def _api_error(status: int, headers: Mapping[str, str], info: wire.ErrorInfo | None) -> E.APIError:
    generation_id = _generation_id(headers)
    if info is None:
        phrase = _reason_phrase(status)
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
            + _id_note(generation_id),
            hint=_UNKNOWN_HINT,
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
        fallbacks = _fallback_models(info)
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


def _fallback_models(info: wire.ErrorInfo) -> list[str]:
    """`error.availability.fallback_models` (openrouter-protocol.md §6C), as safe text."""
    availability = info.raw.get("availability")
    models = availability.get("fallback_models") if isinstance(availability, Mapping) else None
    if not isinstance(models, list):
        return []
    return [wire.server_text(m)[:100] for m in models[:5] if isinstance(m, str) and m.strip()]


def _body_info(body: bytes) -> wire.ErrorInfo | None:
    try:
        return wire.error_info(wire.loads(body)) if body else None
    except E.BadResponseError:
        return None  # an HTML error page from a proxy or the edge


def _unavailable(status: int, info: wire.ErrorInfo | None) -> E.UnavailableError:
    """A 5xx answer to a GET: nothing was billed, whatever the status means for generation."""
    if info is None:
        info = wire.ErrorInfo(status, _reason_phrase(status), None, {}, {})
    detail = wire.detail_of(info)
    return E.UnavailableError(
        f"OpenRouter failed to answer ({status} {detail})".replace(" )", ")"),
        status=status,
        code=info.code,
        error_type=info.error_type,
        metadata=dict(info.metadata),
        hint="nothing was billed; run again later",
    )


def _error_in_200(
    info: wire.ErrorInfo, generation_id: str | None, cost: int | None
) -> E.OpenRouterError:
    """An error inside an HTTP 200 body: the generation started and failed (§6D). Never retried."""
    status = info.code if isinstance(info.code, int) and 100 <= info.code <= 599 else 500
    if info.moderation and not 400 <= status < 500:
        status = 403  # a content-policy error with a string code: moderation, whatever the code
    if info.moderation or status in {401, 402, 403}:
        mapped = _api_error(status, {"x-generation-id": generation_id or ""}, info)
        mapped.in_200_body = True
        return mapped
    return E.BadResponseError(
        f"the server reported an error inside a successful answer ({wire.detail_of(info)})"
        + _id_note(generation_id),
        hint="no image came back; run again, or try --api chat / --api images",
        generation_id=generation_id,
        cost_micros=cost,
    )


def _reason_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return {524: "A timeout occurred", 529: "Site is overloaded"}.get(status, "")


def _inspect(data: bytes, parsed: wire.ParsedImage) -> tuple[bytes, str, int, int]:
    from flux_cli import images

    try:
        clean, info = images.normalise_image(data)
    except images.InvalidImage as exc:
        raise E.BadResponseError(
            f"the image in the answer cannot be used ({exc.reason})"
            + _id_note(parsed.generation_id),
            generation_id=parsed.generation_id,
            cost_micros=parsed.usage.cost_micros,
            raw=data,
        ) from None
    return clean, info.format, info.width, info.height


def _plain_http_transport(base_url: str) -> httpx.HTTPTransport | None:
    """For a plain-http base URL (only ever loopback: a sandbox), a transport that does not load
    the CA bundle, which costs some 60 ms at start-up; None (httpx's default) for https.

    This client sends every request to the base URL and follows no redirects, so it never
    speaks TLS. Its context still demands verified certificates and trusts none: a TLS
    connection made through it could only fail, never go unverified."""
    if urlsplit(base_url).scheme != "http":
        return None
    return httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


@contextmanager
def open_client(base_url: str, api_key: ApiKey, **kwargs: Any) -> Iterator[OpenRouterClient]:
    client = OpenRouterClient(base_url, api_key, **kwargs)
    try:
        yield client
    finally:
        client.close()
