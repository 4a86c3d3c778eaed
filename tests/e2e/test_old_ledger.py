"""A ledger written by an older flux2 with two absurd charges stored ($5 × 10^12 each, past the
64-bit sums together): the installed flux2 repairs it on first use, and a budgeted call goes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from flux_cli.endpoints import SANDBOX
from flux_cli.ledger import Ledger, default_path
from flux_cli.ledger.times import utcnow
from flux_cli.ledger.types import DISTRUSTED_CHARGE
from tests.e2e.conftest import Flux2
from tests.test_ledger_repair import ABSURD, old_sqlite_file

pytestmark = pytest.mark.e2e

PRO = "black-forest-labs/flux.2-pro"


def test_generate_under_a_daily_budget_works_on_an_old_broken_ledger(workdir: Path) -> None:
    now = utcnow()
    absurd = ((1, "ok", PRO, 30_000, ABSURD), (2, "ok", PRO, 30_000, ABSURD))
    path = default_path()
    path.parent.mkdir(parents=True)
    # seconds before now: today, in the budget day the call is checked against
    old_sqlite_file(path, SANDBOX, absurd, lambda n: now - timedelta(seconds=n))

    run = Flux2(workdir, None)(
        "generate",
        "a red fox",
        "--sandbox",
        key=None,
        env={"OPENROUTER_API_KEY": "", "FLUX2_BUDGET_DAILY_USD": "0.10"},
    )
    run.assert_clean()
    assert run.returncode == 0, run.stderr
    (written,) = run.out.splitlines()
    assert (workdir / written).is_file()

    with Ledger.open() as ledger:
        rows = ledger.rows(SANDBOX)
        spent = ledger.spent(SANDBOX)
    new, *old = rows
    assert new.status == "ok"
    assert [(r.charged_micros, r.error) for r in old] == [
        (None, DISTRUSTED_CHARGE.format(ABSURD))
    ] * 2
    # the two old rows count at their estimates, the new one at its charge
    assert spent.today_micros == 60_000 + new.counted_micros
