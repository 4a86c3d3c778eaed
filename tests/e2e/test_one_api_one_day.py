"""One API, one budget day: spellings of a base URL and OpenRouter's regional hosts share a
budget (docs/openrouter.md#base-url-spellings-and-regions), and the budget day is the UTC day for
every process, whatever its TZ."""

from __future__ import annotations

import pytest

from flux_cli.baseurl import account, canonical
from flux_cli.endpoints import OPENROUTER, api_label
from flux_cli.ledger import Ledger
from flux_cli.sandbox import Sandbox
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "url",
    [
        "https://openrouter.ai/api/v1",
        "https://openrouter.ai/api/v1/",
        "HTTPS://OpenRouter.AI/api/v1",
        "https://openrouter.ai:443/api/v1",
        "https://openrouter.ai/api/./v1",
        "https://openrouter.ai/api//v1/",
        "https://eu.openrouter.ai/api/v1",
        "https://us.openrouter.ai:443/api/v1/",
    ],
)
def test_every_spelling_and_region_of_openrouter_is_one_api(url: str) -> None:
    assert api_label(url) == OPENROUTER


def test_other_apis_stay_apart() -> None:
    assert api_label("https://openrouter.ai/api/v2") != OPENROUTER
    assert api_label("https://evil-openrouter.ai/api/v1") != OPENROUTER
    assert api_label("https://openrouter.ai.example/api/v1") != OPENROUTER
    assert canonical("http://127.0.0.1:80/x/") == "http://127.0.0.1/x"
    assert canonical("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"
    assert account("https://eu.openrouter.ai:8443/api/v1") == "https://openrouter.ai:8443/api/v1"


def _spellings(base_url: str) -> list[str]:
    scheme, rest = base_url.split("://", 1)
    host, path = rest.split("/", 1)
    return [
        base_url,
        base_url + "/",
        f"{scheme.upper()}://{host}/{path}",
        f"{scheme}://{host}/{path.replace('/', '/./', 1)}",
        f"{scheme}://{host}/{path.replace('/', '//', 1)}/",
    ]


def test_five_spellings_of_one_base_url_share_one_daily_budget(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    results = []
    for url in _spellings(sandbox.base_url):
        results.append(
            flux2(
                "generate",
                "a fox",
                "-q",
                env={"FLUX2_BASE_URL": url, "FLUX2_BUDGET_DAILY_USD": "0.07"},
            )
        )
    codes = [r.returncode for r in results]
    assert codes == [0, 0, 7, 7, 7], [r.stderr for r in results]
    assert len(sandbox.ledger.generations()) == 2
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)  # every spelling filed under one label
    assert len(rows) == 5
    assert sorted(r.status for r in rows).count("ok") == 2


def test_processes_in_different_time_zones_share_one_budget_day(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    # UTC+14 and UTC-12 are 26 hours apart: their local dates always differ, so local budget
    # days would give each a fresh day.
    budget = {"FLUX2_BUDGET_DAILY_USD": "0.05"}
    first = flux2("generate", "a fox", "-q", env={**budget, "TZ": "Pacific/Kiritimati"})
    assert first.returncode == 0, first.stderr
    second = flux2("generate", "a fox", "-q", env={**budget, "TZ": "Etc/GMT+12"})
    assert second.returncode == 7, second.stderr
    assert len(sandbox.ledger.generations()) == 1


def test_balance_says_the_budget_day_is_utc(flux2: Flux2) -> None:
    result = flux2("balance", "--json", env={"FLUX2_BUDGET_DAILY_USD": "1"})
    assert result.returncode == 0, result.stderr
    import json

    assert json.loads(result.out)["budgets"]["timezone"] == "UTC"
