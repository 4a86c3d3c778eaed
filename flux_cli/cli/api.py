"""Which API a command talks to, and the label the ledger files its rows under (README.md#budgets-and-the-ledger).

    openrouter   the real API (`FLUX2_BASE_URL` unset or the default)
    sandbox      the in-process stand-in a `--sandbox` run starts for itself
    <base URL>   anything else: a `flux2 sandbox` on some port, a proxy, a test server

History, budgets and balance look at one label at a time, so rehearsals never mix with real money.
"""

from __future__ import annotations

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
