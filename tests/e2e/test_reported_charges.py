"""Answers whose `usage.cost` cannot be a charge (huge, negative, not finite, not a number), made
by the sandbox's `usage-cost` fault and met by the installed flux2: the paid image is written,
the row is settled `ok` counting at its estimate with the reported figure kept in its `error`,
exit 10 and a warning say so, and every later command, budgets included, still works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from flux_cli.exit_codes import ExitCode
from flux_cli.ledger import Ledger
from flux_cli.sandbox import Sandbox
from flux_cli.sandbox.faults import Fault
from tests.e2e.conftest import Flux2, Run

pytestmark = pytest.mark.e2e

KLEIN = "black-forest-labs/flux.2-klein-4b"
KLEIN_MICROS = 14_000  # 1 MP on flux.2-klein-4b


def _absurd(sandbox: Sandbox, cost: str, route: str = "images") -> None:
    sandbox.push_fault(route, Fault(kind="usage-cost", cost=cost))


def _rows(sandbox: Sandbox) -> list[object]:
    with Ledger.open() as ledger:
        return list(reversed(ledger.rows(sandbox.base_url)))


def _written(run: Run, workdir: Path) -> list[Path]:
    paths = [workdir / line for line in run.out.splitlines()]
    for path in paths:
        with Image.open(path) as image:
            image.verify()
    return paths


@pytest.mark.parametrize(
    ("cost", "shown", "why"),
    [
        ("1e9", "1E+9", "more than 10 times the estimate"),
        ("1e15", "1.000000E+15", "more than 10 times the estimate"),
        ("1e400", "1.000000E+400", "more than 10 times the estimate"),
        ("NaN", "NaN", "not a finite number"),
        ("-5", "-5", "negative"),
        ('"lots"', '"lots"', "not a usable number"),
        ("88329970", "88329970", "more than 10 times the estimate"),
        ("0.15", "$0.150", "more than 10 times the estimate"),
    ],
)
def test_an_absurd_charge_keeps_the_image_and_counts_the_estimate(
    flux2: Flux2, sandbox: Sandbox, workdir: Path, cost: str, shown: str, why: str
) -> None:
    _absurd(sandbox, cost)
    run = flux2("generate", "a fox", "-m", "klein", "-o", "fox.png")
    assert run.returncode == ExitCode.BAD_RESPONSE, run.stderr
    run.assert_clean()
    assert _written(run, workdir) == [workdir / "fox.png"]
    said = " ".join(run.stderr.split())
    assert f"reported a charge of {shown}, not believed (its cost is {why})" in said
    assert "every image was written" in said
    assert len(sandbox.ledger.generations()) == 1  # one paid request, never a second
    (row,) = _rows(sandbox)
    assert (row.status, row.charged_micros, row.exit_code) == ("ok", None, 10)  # type: ignore[attr-defined]
    assert row.counted_micros == KLEIN_MICROS  # type: ignore[attr-defined]
    assert row.paths == ("fox.png",)  # type: ignore[attr-defined]
    assert shown in row.error  # type: ignore[attr-defined]


def test_the_json_line_says_the_image_is_ok_and_its_charge_is_not_believed(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    _absurd(sandbox, "1e15", route="chat")
    run = flux2("generate", "a fox", "-m", "klein", "--json", "--api", "chat")
    assert run.returncode == ExitCode.BAD_RESPONSE, run.stderr
    (record,) = [json.loads(line) for line in run.out.splitlines()]
    assert record["status"] == "ok"
    assert record["path"]
    assert record["charged_usd"] is None
    assert record["estimate_usd"] == 0.014
    assert record["exit_code"] == 10
    assert "1.000000E+15" in record["error"]


def test_one_absurd_charge_among_several_images(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    _absurd(sandbox, "1e15")
    run = flux2("generate", "a fox", "-m", "klein", "-n", "3", "-o", "out/")
    assert run.returncode == ExitCode.BAD_RESPONSE, run.stderr
    assert len(_written(run, workdir)) == 3
    assert len(sandbox.ledger.generations()) == 3
    rows = _rows(sandbox)
    assert sorted((r.charged_micros or 0) for r in rows) == [0, KLEIN_MICROS, KLEIN_MICROS]  # type: ignore[attr-defined]
    assert all(r.status == "ok" for r in rows)  # type: ignore[attr-defined]


def test_a_batch_line_with_an_absurd_charge(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    (workdir / "prompts.txt").write_text("a fox\na hen\n")
    _absurd(sandbox, "-5")
    run = flux2("generate", "--batch", "prompts.txt", "-m", "klein", "-o", "out/")
    assert run.returncode == ExitCode.BAD_RESPONSE, run.stderr
    assert len(list((workdir / "out").iterdir())) == 2
    assert len(sandbox.ledger.generations()) == 2
    # Resuming buys nothing again: the line with the flagged charge has its image.
    again = flux2("generate", "--batch", "prompts.txt", "-m", "klein", "-o", "out/", "--resume")
    assert again.returncode == 0, again.stderr
    assert len(sandbox.ledger.generations()) == 2


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_absurd_charges_cannot_overflow_the_ledger_or_stop_the_budgets(
    flux2: Flux2,
    sandbox: Sandbox,
    workdir: Path,
    database: str,
    request: pytest.FixtureRequest,
) -> None:
    env = {"FLUX2_BUDGET_DAILY_USD": "0.07"}  # five klein calls
    if database == "postgresql":
        env["FLUX2_LEDGER_URL"] = request.getfixturevalue("postgres_url")
    # Each near the 64-bit limit in micro-dollars: any two summed would overflow it.
    absurd = ["9.2e12", "9.2e12", "1e15", "1e400"]
    for n, cost in enumerate(absurd):
        _absurd(sandbox, cost)
        run = flux2("generate", "a fox", "-m", "klein", "-o", f"fox{n}.png", env=env)
        assert run.returncode == ExitCode.BAD_RESPONSE, run.stderr
    budgeted = flux2("generate", "a fox", "-m", "klein", "-o", "last.png", env=env)
    assert budgeted.returncode == 0, budgeted.stderr
    assert "$0.000 of $0.070 left today" not in budgeted.stderr
    refused = flux2("generate", "a fox", "-m", "klein", env=env)
    assert refused.returncode == ExitCode.BUDGET, refused.stderr
    assert len(sandbox.ledger.generations()) == 5  # the refused call sent nothing

    balance = flux2("balance", "--json", env=env)
    assert balance.returncode == 0, balance.stderr
    budgets = json.loads(balance.out)["budgets"]
    assert budgets["spent_today_usd"] == 0.07
    assert budgets["daily_remaining_usd"] == 0

    history = flux2("history", "--json", env=env)
    assert history.returncode == 0, history.stderr
    records = [json.loads(line) for line in history.out.splitlines()]
    flagged = [r for r in records if r["exit_code"] == 10]
    assert len(flagged) == 4
    assert all(r["charged_usd"] is None and r["counted_usd"] == 0.014 for r in flagged)
    totals = flux2("history", "--by", "model", "--json", env=env)
    assert totals.returncode == 0, totals.stderr
    listing = flux2("history", env=env)
    assert listing.returncode == 0, listing.stderr
    listing.assert_clean()

    # Reconcile has nothing to settle: the rows are settled, the figures stay out of the sums.
    reconciled = flux2("history", "--reconcile", env=env)
    assert reconciled.returncode == 0, reconciled.stderr
    assert flux2("balance", "--json", env=env).out == balance.out

    gallery = flux2("gallery", "-o", "gallery.html", env=env)
    assert gallery.returncode == 0, gallery.stderr
    if database == "postgresql":
        return  # the gallery reads the local ledger file only
    page = (workdir / "gallery.html").read_text()
    # Five calls shown (the refused one made no image), counting 5 × $0.014; only the one
    # believed charge is summed as charged.
    assert 'data-counted-micros="70000"' in page
    assert 'data-charged-micros="14000"' in page


@pytest.mark.parametrize("count", ["1", "3"])
def test_the_charged_table_says_the_figure_was_not_believed(
    flux2: Flux2, sandbox: Sandbox, count: str
) -> None:
    _absurd(sandbox, "1e15")
    wide = {"COLUMNS": "200"}  # each row on one line
    run = flux2("generate", "a fox", "-m", "klein", "-n", count, "-o", "out/", env=wide)
    assert run.returncode == ExitCode.BAD_RESPONSE, run.stderr
    table = " ".join(run.stderr[run.stderr.index("Charged") :].split())
    assert "reported figure not believed; the call counts at its estimate" in table
    assert "unknown (may have been billed)" not in table
    if count == "1":
        assert "estimate $0.014 (charge not believed)" in table
