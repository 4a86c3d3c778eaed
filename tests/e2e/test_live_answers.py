"""How flux2 meets the answers of the OpenRouter of late 2026 (docs/openrouter.md#errors):
key budgets, the in-flight 402, moderation on any status, generation ids on error answers,
prices that cannot be had or are $0. Each asserts the exit code, the ledger rows and how many
requests were paid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flux_cli.ledger import Ledger
from flux_cli.sandbox import Fault, Sandbox
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e

FLUX3 = "black-forest-labs/flux-3-image"


def _paid(sandbox: Sandbox) -> int:
    return len(sandbox.ledger.generations())


def _posts(sandbox: Sandbox) -> list:  # type: ignore[type-arg]
    return [r for r in sandbox.requests if r.path.endswith("/images")]


def _rows(sandbox: Sandbox) -> list:  # type: ignore[type-arg]
    with Ledger.open() as ledger:
        return ledger.rows(sandbox.base_url)


def test_a_spent_key_budget_is_exit_5_naming_the_budget_and_its_reset(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    sandbox.ledger.key_budget_micros = 0
    result = flux2("generate", "a fox")
    result.assert_clean()
    assert result.returncode == 5, result.stderr
    text = " ".join(result.stderr.split())
    assert "api_key budget is spent" in text
    assert "resets at" in text
    assert "permissions" not in text
    assert _paid(sandbox) == 0
    (row,) = _rows(sandbox)
    assert row.status == "failed"
    assert row.charged_micros == 0


def test_the_key_budgets_are_served_and_shown_by_balance(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.ledger.key_budget_micros = 1_000_000
    assert flux2("generate", "a fox", "-q").returncode == 0
    result = flux2("balance", "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    (budget,) = record["key_budgets"]
    assert budget["scope"] == "api_key"
    assert budget["limit_usd"] == 1
    assert budget["spend_usd"] == 0.03
    assert budget["remaining_usd"] == 0.97
    assert budget["reset_interval"] == "daily"
    assert budget["resets_at"].endswith("T00:00:00Z")
    table = flux2("balance")
    assert "api_key budget" in " ".join(table.stderr.split() + table.out.split())


def test_the_in_flight_402_waits_and_then_goes_through(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=402, variant="in-flight", retry_after=0.2))
    result = flux2("generate", "a fox", "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    assert len(_posts(sandbox)) == 2
    assert _paid(sandbox) == 1
    (row,) = _rows(sandbox)
    assert row.status == "ok"


def test_an_in_flight_402_that_persists_is_exit_8(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.set_rule("images", Fault(status=402, variant="in-flight", retry_after=0.1))
    result = flux2("generate", "a fox", "--retries", "2")
    result.assert_clean()
    assert result.returncode == 8, result.stderr
    assert "in flight" in result.stderr
    assert "try again once earlier requests have finished" in result.stderr
    assert "add credits at" not in result.stderr  # not the out-of-credits hint
    assert len(_posts(sandbox)) == 3
    assert _paid(sandbox) == 0
    (row,) = _rows(sandbox)
    assert row.status == "failed"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_moderation_on_a_5xx_is_exit_6_and_never_retried(
    flux2: Flux2, sandbox: Sandbox, status: int
) -> None:
    sandbox.set_rule("images", Fault(status=status, variant="moderated"))
    result = flux2("generate", "a fox", "--retries", "3", "--retry-ambiguous")
    result.assert_clean()
    assert result.returncode == 6, result.stderr
    assert "moderation" in result.stderr
    assert len(_posts(sandbox)) == 1
    assert _paid(sandbox) == 0


def test_error_answers_carry_a_generation_id_the_unknown_row_keeps(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    sandbox.set_rule("images", Fault(status=500))
    result = flux2("generate", "a fox")
    assert result.returncode == 9, result.stderr
    (post,) = _posts(sandbox)
    assert post.generation_id is not None
    assert post.generation_id.startswith("gen-img-")
    (row,) = _rows(sandbox)
    assert row.status == "unknown"
    assert row.generation_id == post.generation_id


def test_no_price_sends_nothing_and_names_both_ways_on(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.set_rule("endpoints", Fault(kind="no-price"))
    result = flux2("generate", "x", "-m", FLUX3)
    result.assert_clean()
    assert result.returncode == 2
    text = " ".join(result.stderr.split())
    assert "no price is known" in text
    assert f'[prices."{FLUX3}"]' in text
    assert "--accept-unknown-price" in text
    assert _posts(sandbox) == []
    assert _rows(sandbox) == []


def test_accept_unknown_price_counts_the_call_at_max_cost(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.set_rule("endpoints", Fault(kind="no-price"))
    refused = flux2("generate", "x", "-m", FLUX3, "--accept-unknown-price")
    assert refused.returncode == 2
    assert "needs --max-cost" in refused.stderr
    result = flux2("generate", "x", "-m", FLUX3, "--max-cost", "0.50", "--accept-unknown-price")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    assert "counted at $0.500" in " ".join(result.stderr.split())
    assert _paid(sandbox) == 1
    (row,) = _rows(sandbox)
    assert row.estimate_micros == 500_000
    assert row.charged_micros == 40_000  # the charge the answer reported


def test_a_price_in_the_config_file(flux2: Flux2, sandbox: Sandbox) -> None:
    import os
    from pathlib import Path

    sandbox.set_rule("endpoints", Fault(kind="no-price"))
    config = Path(os.environ["FLUX2_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[prices."{FLUX3}"]\nunit = "megapixel"\noutput_usd = 0.04\n')
    result = flux2("generate", "x", "-m", FLUX3, "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    assert "config file (prices)" in " ".join(result.stderr.split())
    (row,) = _rows(sandbox)
    assert row.estimate_micros == row.charged_micros == 40_000


def test_a_zero_live_price_for_a_paid_model_is_not_trusted(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.set_rule("endpoints", Fault(kind="zero-price"))
    result = flux2("generate", "a fox", "-m", "pro")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    assert "the live price is $0" in " ".join(result.stderr.split())
    (row,) = _rows(sandbox)
    assert row.estimate_micros == 30_000


def test_a_batch_with_an_unknown_price_shares_max_cost(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    sandbox.set_rule("endpoints", Fault(kind="no-price"))
    (workdir / "b.txt").write_text("one\ntwo\n")
    result = flux2(
        "generate", "--batch", "b.txt", "-m", FLUX3, "--max-cost", "0.50",
        "--accept-unknown-price", "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = _rows(sandbox)
    assert sorted(r.estimate_micros for r in rows) == [250_000, 250_000]
    assert [r.charged_micros for r in rows] == [40_000, 40_000]
