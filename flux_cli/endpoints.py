"""Which API a command talks to, and the label the ledger files its rows under (README.md#budgets-and-the-ledger).

    openrouter   the real API (`FLUX2_BASE_URL` unset or the default)
    sandbox      the in-process stand-in a `--sandbox` run starts for itself
    <base URL>   anything else: a `flux2 sandbox` on some port, a proxy, a test server

History, budgets and balance look at one label at a time, so rehearsals never mix with real money.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_cli.credentials import ApiKey
    from flux_cli.openrouter.client import OpenRouterClient

OPENROUTER = "openrouter"
SANDBOX = "sandbox"


def api_label(base_url: str, *, sandbox: bool = False) -> str:
    """The ledger's name for the API at `base_url` (`sandbox=True`: the in-process sandbox)."""
    from flux_cli.baseurl import account
    from flux_cli.credentials import DEFAULT_BASE_URL

    if sandbox:
        return SANDBOX
    url = account(base_url)  # one label for every spelling and region (flux_cli.baseurl)
    return OPENROUTER if url == DEFAULT_BASE_URL else url


def current_api() -> tuple[str, str]:
    """(label, base URL) of the API `FLUX2_BASE_URL` selects; UsageError for a bad URL."""
    from flux_cli.credentials import resolve_base_url

    base_url = resolve_base_url()
    return api_label(base_url), base_url


def describe(label: str) -> str:
    """How to name the API to a person: `OpenRouter`, `the --sandbox runs`, or the URL."""
    if label == OPENROUTER:
        return "OpenRouter"
    if label == SANDBOX:
        return "the --sandbox runs"
    return label


def live_name(label: str) -> str:
    """How to name the API a command is talking to now: as `describe`, but the sandbox is the one
    this process starts."""
    return "in-process sandbox" if label == SANDBOX else describe(label)


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. `label` is the ledger's name for it (`openrouter`, `sandbox`, or the
    base URL); the built-in sandbox has no URL or key until `App.connected` starts it."""

    label: str
    base_url: str
    key: ApiKey | None

    @property
    def built_in_sandbox(self) -> bool:
        return self.label == SANDBOX


def real_endpoint() -> Endpoint:
    """The API `FLUX2_BASE_URL` selects, with the key (UsageError for a bad URL, AuthError
    without a key)."""
    from flux_cli.credentials import resolve_base_url, resolve_key

    base_url = resolve_base_url()
    return Endpoint(api_label(base_url), base_url, resolve_key())


def make_client(base_url: str, key: ApiKey, **options: Any) -> OpenRouterClient:
    """An `OpenRouterClient`; `options` are its keyword arguments."""
    from flux_cli.openrouter.client import OpenRouterClient

    return OpenRouterClient(base_url, key, **options)


def sandbox_endpoint(base_url: str) -> Endpoint:
    """The endpoint of a sandbox running at `base_url`, filed under the sandbox's label."""
    from flux_cli.credentials import ApiKey
    from flux_cli.sandbox import SANDBOX_KEY

    return Endpoint(SANDBOX, base_url, ApiKey(SANDBOX_KEY, "sandbox"))


@contextmanager
def built_in_sandbox() -> Iterator[Endpoint]:
    """A sandbox started in this process for the block (`--sandbox`), and its endpoint."""
    from flux_cli.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(port=0)) as sandbox:
        yield sandbox_endpoint(sandbox.base_url)
