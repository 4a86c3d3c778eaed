"""The rules `--resume` rests on: a line's seed and what its judgement is, from its ledger row."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from flux_cli.generation import MAX_SEED
from flux_cli.ledger import Row
from flux_cli.planning import read_items
from flux_cli.resume import PAID_NOT_WRITTEN, RESENT_UNKNOWN, judge, line_seed


def _seeds(text: bytes) -> list[int | None]:
    import io

    return [item.auto_seed for item in read_items(io.BytesIO(text), "test")]


def test_a_line_keeps_its_seed_wherever_it_moves_and_a_changed_line_gets_a_new_one() -> None:
    first = _seeds(b"a fox\na cat\na fox\n")
    assert first[0] != first[2]  # identical lines still differ
    assert _seeds(b"a fox\na cat\na fox\n") == first  # every run of the same file
    moved = _seeds(b"# a comment\na new line\na cat\na fox\n\na fox\n")
    assert moved[1:] == [first[1], first[0], first[2]]
    assert _seeds(b"a red fox\na cat\na fox\n")[0] not in first
    assert all(0 <= s <= MAX_SEED for s in first if s is not None)
    assert line_seed("x", 0, 10) == line_seed("x", 0, 10)


ROW = Row(
    id=1, created_at=datetime(2026, 12, 1, tzinfo=UTC), updated_at=datetime(2026, 12, 1, tzinfo=UTC),
    status="ok", api="openrouter", command="generate", model="m", provider=None, route="images",
    seed=1, width=1024, height=1024, output_mp=1, reference_count=0, reference_mp=0,
    estimate_micros=30_000, charged_micros=30_000, generation_id="gen-1", paths=(), sha256s=(),
    exit_code=0, prompt="p", pid=1, hostname="h", error=None, elapsed_s=1.0,
)  # fmt: skip


def test_each_earlier_row_is_judged_as_the_readme_says(tmp_path: Path) -> None:
    image = tmp_path / "a.jpg"
    image.write_bytes(b"image bytes")
    digest = hashlib.sha256(b"image bytes").hexdigest()
    made = replace(ROW, paths=(str(image),), sha256s=(digest,))
    assert judge(None, resend_unknown=False).verdict == "send"
    assert judge(made, resend_unknown=False).verdict == "skipped"
    image.write_bytes(b"edited")
    changed = judge(made, resend_unknown=False)
    assert (changed.verdict, changed.reason) == ("remade", f"{image} was changed")
    image.unlink()
    assert judge(made, resend_unknown=False).reason == f"{image} was deleted"
    lost = judge(replace(ROW, status="failed"), resend_unknown=False)
    assert (lost.verdict, lost.reason) == ("remade", PAID_NOT_WRITTEN)
    unknown = replace(ROW, status="unknown", charged_micros=None)
    assert judge(unknown, resend_unknown=False).verdict == "held"
    assert judge(unknown, resend_unknown=True).reason == RESENT_UNKNOWN
    free = replace(ROW, status="failed", charged_micros=0)
    assert judge(free, resend_unknown=False).verdict == "send"
