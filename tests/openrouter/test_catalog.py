"""The catalog type: lookups, the embedded catalog, and what importing the catalog costs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flux_cli.embedded_catalog import MODELS
from flux_cli.errors import UsageError
from flux_cli.openrouter.catalog import Catalog, embedded_catalog, resolve
from flux_cli.openrouter.catalog_cache import DEFAULT_TTL, load_catalog
from tests.openrouter.catalog_server import BASE, KLEIN, NOW, PRO, FakeApi, record

# -- lookups -----------------------------------------------------------------------------------------


def test_resolve_aliases_ids_and_case() -> None:
    catalog = Catalog(embedded_catalog(), "embedded")
    assert resolve(catalog, "pro").id == PRO
    assert resolve(catalog, " KLEIN ").id == KLEIN
    assert resolve(catalog, "Black-Forest-Labs/FLUX.2-Max").id == "black-forest-labs/flux.2-max"
    assert resolve(catalog.entries, PRO).id == PRO


def test_resolve_a_model_only_the_live_catalog_knows(api: FakeApi) -> None:
    api.models.append(record("acme/painter"))
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW)
    assert resolve(catalog, "acme/painter").name == "Model acme/painter"


def test_resolve_unknown_lists_the_known_models() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(Catalog(embedded_catalog(), "embedded"), "flux.3-ultra")
    assert caught.value.message == "unknown model 'flux.3-ultra'"
    assert caught.value.hint is not None
    assert "pro (black-forest-labs/flux.2-pro)" in caught.value.hint
    assert "klein" in caught.value.hint


def test_catalog_module_keeps_heavy_imports_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, flux_cli.openrouter.catalog, flux_cli.openrouter.catalog_cache, "
        "flux_cli.openrouter.catalog_fetch; print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_embedded_catalog_matches_models() -> None:
    entries = embedded_catalog()
    assert [e.id for e in entries.values()] == [m.id for m in MODELS]
    assert all(e.price_source == "embedded" and e.fetched_at is None for e in entries.values())
    assert timedelta(hours=24) == DEFAULT_TTL
