"""One attempt: a request and its whole answer within a wall-clock limit, or why there is none.

What can go wrong is told apart by how far the request got, since that decides whether it may
have been billed: `NotSent` (no byte can have reached the server), `NoAnswer` (sent, no response
headers came back) and `BodyLost` (headers came, the body did not finish).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from flux_cli import http_client
from flux_cli.openrouter import answers as A

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_RESPONSE_BYTES",
    "BodyLost",
    "NoAnswer",
    "NotSent",
    "Raw",
    "attempt",
]

#: One FLUX image is at most ~4 MP; a worst-case 4 MP PNG is ~17 MB as base64
#: (docs/reliability.md#defaults).
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Raw:
    status: int
    headers: Mapping[str, str]
    body: bytes


class NotSent(Exception):
    """Failed before any byte of the request could have reached the server."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.final = final  # will not heal by trying again (a certificate that fails to verify)


class NoAnswer(Exception):
    """Sent (or partly sent), and no response headers came back."""


class BodyLost(Exception):
    def __init__(self, reason: str, status: int, headers: Mapping[str, str]) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers


def attempt(
    http: httpx.Client,
    path: str,
    body: bytes | None,
    *,
    limit: float,
    timeout: httpx.Timeout,
    clock: Callable[[], float],
    method: str = "POST",
    params: Mapping[str, str] | None = None,
    ends_at: float | None = None,
) -> Raw:
    """One request and its whole answer, within `limit` seconds of wall-clock time (`ends_at`:
    a `time.monotonic()` value, by default that far from now): connecting, sending, the headers
    and every byte of the body. `clock` is checked too, for tests without sockets."""
    ends_at = time.monotonic() + limit if ends_at is None else ends_at
    deadline = clock() + limit
    headers_seen = False
    status, response_headers = 0, dict[str, str]()

    def in_time() -> None:
        if clock() > deadline or http_client.deadline_passed():
            raise BodyLost(
                f"the answer did not finish within {limit:g} s (--timeout)",
                status,
                response_headers,
            )

    try:
        with (
            http_client.deadline(ends_at),
            http.stream(
                method,
                path,
                content=body,
                params=params,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=timeout,
            ) as response,
        ):
            headers_seen = True
            status, response_headers = response.status_code, dict(response.headers)
            cap = MAX_RESPONSE_BYTES if 200 <= status < 300 else MAX_ERROR_BODY_BYTES
            try:
                data = http_client.read_capped(response, cap, each_chunk=in_time)
            except http_client.BodyTooLarge as exc:
                raise BodyLost(f"the answer is {exc}", status, response_headers) from None
            return Raw(status, response_headers, data)
    except BodyLost:
        raise
    except (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpx.UnsupportedProtocol,
        httpx.ProxyError,
    ) as exc:
        raise NotSent(A.describe(exc), final=A.certificate_failed(exc)) from None
    except (httpx.TransportError, httpx.DecodingError) as exc:
        reason = A.describe(exc)
        if time.monotonic() >= ends_at:
            what = "the answer did not finish" if headers_seen else "no answer"
            reason = f"{what} within {limit:g} s (--timeout)"
        if headers_seen:
            raise BodyLost(reason, status, response_headers) from None
        raise NoAnswer(reason) from None
