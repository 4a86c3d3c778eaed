"""What a gallery page shows and where it goes: filters checked, the page placed and built."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_cli.errors import OutputError, UsageError
from flux_cli.gallery import BuildStats
from flux_cli.gallery_selection import (
    DEFAULT_PAGE,
    Gallery,
    make_gallery,
    page_path,
    wanted_statuses,
)


def test_statuses_may_be_repeated_or_comma_separated() -> None:
    assert wanted_statuses(["ok, FAILED", "unknown"]) == ["ok", "failed", "unknown"]
    assert wanted_statuses([]) == []
    with pytest.raises(UsageError, match="'done' is not a status") as caught:
        wanted_statuses(["ok,done"])
    assert caught.value.hint == "use ok, failed, unknown, pending"


def test_the_page_goes_to_stdout_a_directory_or_a_file_flux2_wrote(tmp_path: Path) -> None:
    assert page_path("-", force=False) is None
    assert page_path(str(tmp_path), force=False) == tmp_path / DEFAULT_PAGE
    other = tmp_path / "notes.html"
    other.write_text("<p>mine</p>", encoding="utf-8")
    with pytest.raises(OutputError, match="is not a page flux2 wrote"):
        page_path(str(other), force=False)
    assert page_path(str(other), force=True) == other


def test_an_empty_ledger_makes_a_page_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    made = make_gallery(
        sandbox=True,
        output="page.html",
        since="7d",
        model="pro",
        run="r1",
        statuses=["ok"],
        by="run",
        force=False,
    )
    assert made.page == Path("page.html")
    assert not made.page.exists()  # written only when asked: `Gallery.write`
    assert made.notes == ["no calls match for the --sandbox runs; the page says so"]
    assert "--since 7d --model pro --run r1 --status ok" in made.html
    made.write()
    assert made.page.read_text(encoding="utf-8") == made.html
    with pytest.raises(UsageError, match="--by must be day or run"):
        make_gallery(
            sandbox=True,
            output="-",
            since=None,
            model=None,
            run=None,
            statuses=[],
            by="week",
            force=False,
        )


def test_the_summary_names_what_went_wrong() -> None:
    stats = BuildStats(thumbnails_made=2, thumbnails_cached=1, missing=3)
    line = Gallery("", None, stats).summary()
    assert line.startswith("gallery: ")
    assert line.endswith("(2 thumbnails made, 1 from the cache, 3 files missing)")
