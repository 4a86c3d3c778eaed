"""The models as flux2 lists them: order, JSON records, and the cells of the table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from flux_cli.embedded_catalog import ALIASES, PriceRule
from flux_cli.endpoints import SANDBOX
from flux_cli.model_list import (
    age_seconds,
    age_text,
    costs,
    entry_record,
    ordered,
    price_source,
    source_line,
    takes,
)
from flux_cli.openrouter.catalog import Catalog, CatalogEntry, embedded_catalog


def catalog(**changes: object) -> Catalog:
    entries = dict(embedded_catalog())
    other = replace(entries[ALIASES["pro"]], id="acme/zeta-image", name="Zeta")
    entries = {"acme/zeta-image": other, **entries}
    return replace(Catalog(entries, "embedded"), **changes)  # type: ignore[arg-type]


def test_the_aliases_come_first_then_the_others_by_id() -> None:
    ids = [entry.id for entry in ordered(catalog())]
    assert ids[:4] == [ALIASES[a] for a in ("pro", "max", "flex", "klein")]
    assert ids[4:] == sorted(ids[4:])
    assert "acme/zeta-image" in ids[4:]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "just now"),
        (59, "just now"),
        (60, "1 min ago"),
        (7200, "2 h ago"),
        (3 * 86400, "3 days ago"),
    ],
)
def test_age_text(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


def test_a_live_price_has_an_age_and_says_it() -> None:
    now = datetime.now(UTC)
    entry = replace(
        embedded_catalog()[ALIASES["pro"]], price_source="live", fetched_at=now - timedelta(hours=3)
    )
    live = catalog(source="live")
    assert age_seconds(live, entry) in range(3 * 3600 - 5, 3 * 3600 + 5)
    assert price_source(live, entry) == "live, 3 h ago"
    assert age_seconds(live, embedded_catalog()[ALIASES["pro"]]) is None
    per_image = replace(entry, price=PriceRule(40_000, 40_000, 0, unit="image"))
    assert price_source(live, per_image) == "live, 3 h ago, per image"
    record = entry_record(entry, live)
    assert record["price_source"] == "live"
    assert record["catalog_source"] == "live"
    assert record["fetched_at"] == entry.fetched_at.isoformat()  # type: ignore[union-attr]


def test_what_a_model_takes_and_costs() -> None:
    entry: CatalogEntry = embedded_catalog()[ALIASES["pro"]]
    cells = takes(entry)
    assert cells[0] == " ".join(entry.aspect_ratios)
    assert cells[-2] == f"refs {entry.max_references} · seed"
    assert cells[-1] == " ".join(entry.output_formats)
    assert costs(entry) == ["$0.030 1st MP", "$0.015 +MP", "$0.015 ref"]
    bare = replace(entry, aspect_ratios=(), output_formats=(), min_references=1, takes_seed=False)
    assert takes(bare)[0] == "no aspect ratio"
    assert takes(bare)[-2] == f"refs 1-{entry.max_references} · no seed"
    assert takes(bare)[-1] == "its own format"
    assert costs(replace(entry, price=None)) == ["—"]
    flat = replace(entry, price=PriceRule(40_000, 40_000, 0, unit="image"), max_references=0)
    assert costs(flat) == ["$0.040 /image"]
    record = entry_record(flat, catalog())
    assert (record["price_unit"], record["first_mp_usd"], record["price_age_s"]) == (
        "image",
        0.04,
        None,
    )


def test_the_caption_says_where_the_catalog_came_from() -> None:
    assert source_line(catalog(), "openrouter").startswith("catalog: the embedded FLUX.2 table")
    cached = catalog(source="cache", age=timedelta(minutes=5))
    assert source_line(cached, "openrouter") == (
        "catalog: cached copy from OpenRouter, fetched 5 min ago; --refresh fetches it again"
    )
    assert source_line(catalog(source="live", age=None), SANDBOX) == (
        "catalog: fetched from an in-process sandbox at an unknown time"
    )


def test_the_listed_catalog_is_the_sandbox_s_or_the_current_api_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flux_cli.model_list import listed_catalog

    catalog, label = listed_catalog(sandbox=True, refresh=False)
    assert label == SANDBOX
    assert ALIASES["pro"] in catalog.entries
    # Nothing listens on port 9 of the loopback: offline, the embedded table is listed.
    monkeypatch.setenv("FLUX2_BASE_URL", "http://127.0.0.1:9/api/v1")
    offline, label = listed_catalog(sandbox=False, refresh=True)
    assert label == "http://127.0.0.1:9/api/v1"
    assert offline.warnings
    assert ALIASES["pro"] in offline.entries
