"""The OpenRouter client: one `httpx.Client`, two routes, billing-aware retries.

The network sits behind `transport=` (an `httpx.MockTransport` in unit tests, real loopback HTTP
against the sandbox everywhere else); sleeping, the clock and jitter are injected too, so the
retry loop is tested without waiting. One attempt is `transport.attempt`; what its answer means
(retry, fail, succeed, maybe billed) is `verdicts`.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from flux_cli import http_client
from flux_cli.choices import ROUTES
from flux_cli.credentials import ApiKey, validate_base_url
from flux_cli.openrouter import answers as A
from flux_cli.openrouter import errors as E
from flux_cli.openrouter import verdicts, wire
from flux_cli.openrouter.fetch import image_bytes, inspect_image
from flux_cli.openrouter.retry import DEFAULT_MAX_RETRIES, Decision, retry_delay
from flux_cli.openrouter.transport import BodyLost, NoAnswer, NotSent, Raw, attempt
from flux_cli.openrouter.wire import ImageRequest, Usage

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
        self._via = "" if transport is not None else A.proxy_note(self.base_url)
        self.timeouts = timeouts or Timeouts()
        self.max_retries = max(0, max_retries)
        self.retry_ambiguous = max(0, retry_ambiguous)
        self._sleep, self._clock, self._wall_clock, self._rand = sleep, clock, wall_clock, rand
        self._on_retry = on_retry
        self._transport = transport
        headers = {
            "Accept": "application/json",
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
            http_client.make_client(
                base_url=self.base_url + "/",
                headers=headers,
                transport=transport
                if transport is not None
                else http_client.plain_http_transport(self.base_url),
                verify=verify,
                follow_redirects=False,  # the key goes to the configured host and nowhere else
                timeout=self._httpx_timeout(self.timeouts.attempt),
            )
            for _ in range(max(1, lanes))
        ]
        self._http = self._lanes[0]

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
        before_ambiguous_retry: Callable[[E.OpenRouterError], None] | None = None,
    ) -> ImageResult:
        """Send one generation (with retries) and check what comes back.

        `on_answer` is called once the final answer's body has arrived, before it is parsed
        and the image checked: a batch lets its next request go then. `lane`: which connection
        pool to use; requests sent at once from several threads go faster each through its own,
        as they then never wait for one another's pool lock.

        `before_ambiguous_retry` is called with the error of an attempt that may have been
        billed, just before that request is sent again (`retry_ambiguous`): the caller's ledger
        gives each such attempt a row of its own. Whatever it raises ends the call instead of
        the retry (raising the error it was given: "not sent again")."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}")
        path, body = (
            ("images", wire.images_body(request))
            if route == "images"
            else ("chat/completions", wire.chat_body(request))
        )
        started = self._clock()
        raw, attempts, ends_at = self._send_with_retries(
            path, body, self._lanes[lane], before_ambiguous_retry
        )
        if on_answer is not None:
            on_answer()
        parsed = verdicts.parse_success(raw, route)
        # Each form of the image is let go as soon as the next exists, so at most two are alive
        # at once (body and parsed JSON, then base64 text and bytes): peak memory stays near
        # twice the response size rather than four times.
        del raw
        with http_client.deadline(ends_at):  # the chat route's image URL: within the same attempt
            data = image_bytes(
                parsed,
                transport=self._transport,
                timeout=self._httpx_timeout(self.timeouts.attempt),
            )
        parsed = replace(parsed, encoded="")
        info = inspect_image(data, parsed)
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
            except (NotSent, NoAnswer, BodyLost) as exc:
                decision = Decision.RETRY
                error = E.ConnectionFailedError(
                    f"no answer from {self._host} to GET /{path} ({exc})",
                    hint="check the network connection and any HTTPS_PROXY setting, then run again",
                )
            else:
                if 200 <= raw.status < 300:
                    return verdicts.get_success(raw, path)
                decision, error, retry_after = verdicts.judge(raw, self._wall_clock)
                if isinstance(error, E.ServerOutcomeUnknownError):
                    decision, error = (
                        Decision.RETRY,
                        A.unavailable(raw.status, A.body_info(raw.body)),
                    )
            error.attempts = attempts
            if decision is Decision.FAIL:
                raise error
            if retries >= self.max_retries:
                raise verdicts.exhausted(error, attempts)
            self._pause(error, retries, retry_after, attempts)
            retries += 1

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
        ends_at: float | None = None,
    ) -> Raw:
        """One request and its whole answer within `timeouts.attempt` (`transport.attempt`)."""
        limit = self.timeouts.attempt
        return attempt(
            http or self._http,
            path,
            body,
            limit=limit,
            timeout=self._httpx_timeout(limit),
            clock=self._clock,
            method=method,
            params=params,
            ends_at=ends_at,
        )

    def _send_with_retries(
        self,
        path: str,
        payload: dict[str, Any],
        http: httpx.Client,
        before_ambiguous_retry: Callable[[E.OpenRouterError], None] | None = None,
    ) -> tuple[Raw, int, float]:
        """The final answer, the number of attempts, and when its attempt's time runs out."""
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
                ends_at = time.monotonic() + self.timeouts.attempt
                raw = self._attempt(path, body, http=http, ends_at=ends_at)
            except NotSent as exc:
                decision = Decision.FAIL if exc.final else Decision.RETRY
                error = E.ConnectionFailedError(
                    f"could not reach {self._host}{self._via}: {exc}; nothing was sent",
                    hint="check the network connection and any HTTPS_PROXY setting, then run again",
                )
            except NoAnswer as exc:
                decision = Decision.UNKNOWN
                error = E.OutcomeUnknownError(
                    f"the request was sent but no answer came back ({exc}); it may have been billed",
                    hint=A.UNKNOWN_HINT,
                )
            except BodyLost as exc:
                generation_id = A.generation_id_of(exc.headers)
                if 200 <= exc.status < 300:
                    # The image was made and is being paid for: never send it again by ourselves.
                    raise E.OutcomeUnknownError(
                        f"the answer was cut off ({exc}); the image was probably made and billed"
                        + A.id_note(generation_id),
                        hint=A.UNKNOWN_HINT,
                        generation_id=generation_id,
                        attempts=attempts,
                    ) from None
                raw = Raw(exc.status, exc.headers, b"")
                decision, error, retry_after = verdicts.judge(raw, self._wall_clock)
            else:
                decision, error, retry_after = verdicts.judge(raw, self._wall_clock)
                if decision is Decision.SUCCESS:
                    return raw, attempts, ends_at
            error.attempts = attempts
            if decision is Decision.FAIL:
                raise error
            if decision is Decision.UNKNOWN:
                if ambiguous_retries >= self.retry_ambiguous or retries >= self.max_retries:
                    raise error
                ambiguous_retries += 1
            elif retries >= self.max_retries:
                raise verdicts.exhausted(error, attempts)
            self._pause(error, retries, retry_after, attempts)
            if decision is Decision.UNKNOWN and before_ambiguous_retry is not None:
                before_ambiguous_retry(error)
            retries += 1

    def _pause(
        self, error: E.OpenRouterError, retries: int, retry_after: float | None, attempts: int
    ) -> None:
        """Wait before the next attempt, as the server asked or by backoff; raise `error` when
        the server asks for longer than flux2 waits."""
        delay = retry_delay(retries, retry_after, self._rand)
        if delay is None:
            assert retry_after is not None
            raise verdicts.too_long(error, retry_after, attempts)
        if self._on_retry is not None:
            self._on_retry(RetryNotice(attempts, delay, error.message))
        self._sleep(delay)
