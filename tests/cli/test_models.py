"""`flux2 models`: the catalog with capabilities and prices, cached, public (no key)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from flux_cli.embedded_catalog import ALIASES
from flux_cli.openrouter.catalog_cache import cache_path
from flux_cli.paths import cache_dir
from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.cli.test_history import flux2, json_lines


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        yield sb


def catalog_requests(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/images/models"))


def test_table_lists_the_flux_models_with_their_prices_and_source(sandbox: Sandbox) -> None:
    result = flux2("models")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Image models · prices per megapixel" in out
    for alias, model_id in ALIASES.items():
        assert alias in out
        assert model_id.split("/")[1][:10] in out
    for price in ("$0.030", "$0.015", "$0.070", "$0.060", "$0.014", "$0.001"):
        assert price in out
    for text in ("16:9", "21:9", "png", "jpeg", "live"):
        assert text in out
    assert f"catalog: fetched from {sandbox.base_url}" in " ".join(out.split())
    assert result.stderr == ""


def test_json_lines_one_object_per_model(sandbox: Sandbox) -> None:
    result = flux2("models", "--json")
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result.stdout)
    from flux_cli.sandbox.catalog import SANDBOX_MODELS

    assert len(lines) == len(SANDBOX_MODELS) == 18
    assert [m["alias"] for m in lines[:4]] == ["pro", "max", "flex", "klein"]
    models = {m["alias"] or m["id"]: m for m in lines}
    flux3 = models["black-forest-labs/flux-3-image"]
    assert flux3["resolutions"] == ["768", "1K", "1.5K", "2K", "4K"]
    assert flux3["seed"] is False
    assert flux3["price_unit"] == "megapixel"
    gpt = models["openai/gpt-image-2"]
    assert gpt["price_unit"] == "token"
    assert gpt["first_mp_usd"] == 0.12288  # $0.00003 per token × 4,096 tokens per megapixel
    assert gpt["prompt_token_usd"] == 0.000005
    assert models["bytedance-seed/seedream-4.5"]["price_unit"] == "image"
    assert models["inclusionai/ming-image-0.1-design-layer"]["min_references"] == 1
    assert models["meta/muse-image"]["aspect_ratios"] == []
    pro = models["pro"]
    assert pro["id"] == ALIASES["pro"]
    assert (pro["first_mp_usd"], pro["extra_mp_usd"], pro["reference_mp_usd"]) == (
        0.03,
        0.015,
        0.015,
    )
    assert pro["max_references"] == 8
    assert models["klein"]["max_references"] == 4
    assert "21:9" in pro["aspect_ratios"]
    assert pro["price_source"] == "live"
    assert pro["catalog_source"] == "live"
    assert pro["price_age_s"] == 0


def test_no_key_is_needed_or_sent(sandbox: Sandbox) -> None:
    assert "OPENROUTER_API_KEY" not in os.environ
    assert flux2("models").exit_code == 0
    assert sandbox.requests
    assert all("authorization" not in r.headers for r in sandbox.requests)


def test_the_cache_is_used_until_refresh(sandbox: Sandbox) -> None:
    assert flux2("models").exit_code == 0
    assert catalog_requests(sandbox) == 1
    cached = flux2("models")
    assert catalog_requests(sandbox) == 1
    assert "cached copy" in " ".join(cached.stdout.split())
    assert "--refresh" in cached.stdout
    assert json_lines(flux2("models", "--json").stdout)[0]["catalog_source"] == "cache"
    assert flux2("models", "--refresh").exit_code == 0
    assert catalog_requests(sandbox) == 2


def test_an_unreachable_api_falls_back_to_the_embedded_table_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("FLUX2_BASE_URL", f"http://127.0.0.1:{port}/api/v1")
    result = flux2("models")
    assert result.exit_code == 0
    assert "warning: could not fetch the model catalog" in " ".join(result.stderr.split())
    assert "embedded" in result.stdout
    assert "$0.030" in result.stdout


def test_model_notes_go_to_stderr(sandbox: Sandbox) -> None:
    sandbox.set_rule("endpoints", Fault(status=500))
    result = flux2("models", "--json")
    assert result.exit_code == 0
    models = json_lines(result.stdout)
    flux2_models = [m for m in models if m["alias"]]
    assert {m["price_source"] for m in flux2_models} == {"embedded"}
    assert {m["price_source"] for m in models if not m["alias"]} == {None}
    assert result.stderr.count("note: ") == len(models)
    assert "using the embedded prices" in " ".join(result.stderr.split())


def test_a_bad_base_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX2_BASE_URL", "http://example.com/api/v1")
    result = flux2("models")
    assert result.exit_code == 2
    assert "plain http" in result.stderr


def test_sandbox_lists_the_recorded_catalog_and_caches_nothing() -> None:
    result = flux2("models", "--sandbox", "--json")
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result.stdout)
    assert [m["alias"] for m in lines[:4]] == ["pro", "max", "flex", "klein"]
    assert "black-forest-labs/flux-3-image" in {m["id"] for m in lines}
    assert len(lines) == 18
    assert not cache_dir().exists() or not list(cache_dir().iterdir())


@pytest.mark.e2e
def test_models_in_a_real_process_against_a_sandbox(sandbox: Sandbox) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flux_cli", "models"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "klein" in proc.stdout
    assert proc.stderr == ""
    assert cache_path(sandbox.base_url).exists()
