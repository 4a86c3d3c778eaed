"""The one way flux2 makes HTTP clients: one User-Agent, one capped body reader, one deadline.

httpx's timeouts are per operation (each connect, each read), so a server that sends its headers
one byte at a time never trips them. `deadline` sets a wall-clock limit for everything done on the
calling thread inside it: every connect, TLS handshake, read and write of a client made here is
given at most the time left, and fails with a timeout once none is left. Headers, body and any
follow-up download are all covered, whichever connection they use.

Imported only by the code paths that talk to the network (it imports httpx).
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from flux_cli import __version__

__all__ = [
    "USER_AGENT",
    "BodyTooLarge",
    "deadline",
    "deadline_passed",
    "make_client",
    "plain_http_transport",
    "read_capped",
    "time_left",
]

USER_AGENT = f"flux2/{__version__}"

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "flux2_http_deadline", default=None
)


class BodyTooLarge(Exception):
    """The body is larger than the reader was allowed to keep."""

    def __init__(self, cap: int) -> None:
        size = f"{cap // 2**20} MiB" if cap >= 2**20 else f"{cap // 1024} KiB"
        super().__init__(f"larger than {size}")
        self.cap = cap


@contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Network I/O on this thread, inside the block, ends by `at` (a `time.monotonic()` value;
    None: no limit). An inner deadline never extends an outer one."""
    outer = _DEADLINE.get()
    if at is not None and outer is not None:
        at = min(at, outer)
    token = _DEADLINE.set(at if at is not None else outer)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds left before this thread's deadline (may be negative); None without one."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def deadline_passed() -> bool:
    left = time_left()
    return left is not None and left <= 0


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the wall-clock limit was reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _install_deadline(client: httpx.Client) -> None:
    """Route every connection of `client`'s own transports (the default one and any proxy mounts)
    through the deadline. A test's MockTransport has no network and is left as it is."""
    transports: list[object] = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
            backend, _DeadlineBackend
        ):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]


def make_client(
    *,
    timeout: httpx.Timeout | float,
    base_url: str = "",
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    follow_redirects: bool = False,
    max_redirects: int = 5,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """An httpx client with flux2's User-Agent (and `headers`), no redirects unless asked, and
    the thread's `deadline` applied to all of its network I/O."""
    client = httpx.Client(
        base_url=base_url,
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        transport=transport,
        verify=verify,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        timeout=timeout,
    )
    _install_deadline(client)
    return client


def plain_http_transport(base_url: str) -> httpx.HTTPTransport | None:
    """For a plain-http base URL (only ever loopback: a sandbox), a transport that does not load
    the CA bundle (slow to load at start-up); None (httpx's default) for https.

    A client on it sends every request to the base URL and follows no redirects, so it never
    speaks TLS. Its context still demands verified certificates and trusts none: a TLS
    connection made through it could only fail, never go unverified."""
    from urllib.parse import urlsplit

    if urlsplit(base_url).scheme != "http":
        return None
    return httpx.HTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


def read_capped(
    response: httpx.Response, cap: int, *, each_chunk: Callable[[], None] | None = None
) -> bytes:
    """The body of a streamed `response`, refused with BodyTooLarge past `cap` bytes (nothing
    past the cap is kept). `each_chunk` runs after every chunk (a check that may raise)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(cap)
        chunks.append(chunk)
        if each_chunk is not None:
            each_chunk()
    return b"".join(chunks)
