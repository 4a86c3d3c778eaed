"""`flux2 cost`: the before-table for a planned call, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from flux_cli.cli.registry import app
from tests.test_pricing import WORKED

runner = CliRunner()


def cost(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["cost", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_the_issue_example_prints_each_part_and_the_sum() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flux_cli",
            "cost",
            "-m",
            "max",
            "--size",
            "2048x2048",
            "-i",
            "1024x1024",
            "-i",
            "1536x1024",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "NO_COLOR": "1", "HOME": "/nonexistent"},
    )
    assert "$0.16 output + $0.03 + $0.06 = $0.25" in proc.stdout
    assert proc.stderr == ""
    for line in ("2048×2048", "$0.160", "$0.030", "$0.060", "$0.250"):
        assert line in proc.stdout


@pytest.mark.parametrize(("size", "pro", "max_", "flex", "klein"), WORKED)
def test_worked_examples_through_the_command(
    size: tuple[int, int], pro: str, max_: str, flex: str, klein: str
) -> None:
    """docs/openrouter-flux2.md#worked-examples, output only; sizes off the 16-px grid go through --size's own check."""
    if size[0] % 16 or size[1] % 16:
        pytest.skip("not a size FLUX.2 can be asked for")
    for alias, expected in (("pro", pro), ("max", max_), ("flex", flex), ("klein", klein)):
        data = cost("-m", alias, "--size", f"{size[0]}x{size[1]}")
        assert data["total_usd"] == float(expected), (alias, size)


def test_references_as_files_use_their_upright_prepared_size(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (4032, 3024)).save(photo, "JPEG", exif=exif.tobytes())
    data = cost("-i", str(photo))
    lines = data["lines"]
    assert isinstance(lines, list)
    reference = lines[1]
    assert (reference["width"], reference["height"]) == (1760, 2352)
    assert reference["billed_megapixels"] == 4
    assert data["total_usd"] == 0.03 + 4 * 0.015
    assert cost("-i", str(photo), "--max-input-mp", "1")["total_usd"] == 0.03 + 0.015


def test_count_and_urls() -> None:
    data = cost("-m", "pro", "-n", "3", "-i", "https://example.com/a.png")
    assert data["total_usd"] == pytest.approx(3 * 0.045)
    assert data["count"] == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-i", "missing.png"], "no such file"),
        (["-m", "nope"], "unknown model"),
        (["--size", "100x100"], "multiple of 16"),
        (["-i", "10x10"], "too small"),
        (["-m", "klein"] + ["-i", "64x64"] * 5, "at most 4"),
    ],
)
def test_cost_usage_errors(args: list[str], words: str) -> None:
    result = runner.invoke(app, ["cost", *args])
    assert result.exit_code == 2
    assert words in result.output
