"""`flux2 inspect FILE`: what an image carries, as a table or JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flux_cli.cli.registry import app
from flux_cli.metadata import Recipe, apply_level, embed
from tests.test_metadata import RECIPE, encode

runner = CliRunner()
NO_CREDENTIALS: dict[str, object] = {
    "present": False,
    "where": None,
    "checked": False,
    "valid": None,
    "state": None,
    "signer": None,
    "claim_generator": None,
    "digital_source_type": None,
    "problems": [],
    "note": None,
}


def inspect(*args: str) -> Result:
    return runner.invoke(app, ["inspect", *args])


def made_by_flux2(path: Path, fmt: str = "png", recipe: Recipe | None = RECIPE) -> Path:
    path.write_bytes(embed(encode(fmt), fmt, recipe))
    return path


def test_the_table_shows_the_recipe_on_stdout(tmp_path: Path) -> None:
    path = made_by_flux2(tmp_path / "fox.png")
    result = inspect(str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    for expected in (
        str(path),
        "PNG, 96×64",
        "a red fox in the snow",
        "black-forest-labs/flux.2-pro",
        "1234567",
        "aspect ratio 3:2",
        "$0.030 charged, $0.030 estimated",
        "gen-img-1790983552-TOdyb7qrp6185EBMwzAV",
        "Black Forest Labs",
        "2026-11-21T10:00:00Z",
        "flux2 0.1.0, metadata full",
    ):
        assert expected in result.stdout, expected


def test_json_is_one_object_with_the_embedded_recipe(tmp_path: Path) -> None:
    path = made_by_flux2(tmp_path / "fox.webp", "webp")
    result = inspect(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "path": str(path),
        "format": "webp",
        "width": 96,
        "height": 64,
        "recipe": RECIPE.to_dict(),
        "sidecar": None,
        "content_credentials": NO_CREDENTIALS,
        "charged_usd": float(RECIPE.cost_usd or "nan"),
        "charged_micros": round(float(RECIPE.cost_usd or "nan") * 1_000_000),
        "estimate_usd": float(RECIPE.estimate_usd or "nan"),
        "estimate_micros": round(float(RECIPE.estimate_usd or "nan") * 1_000_000),
    }
    assert result.stdout.count("\n") == 1


def test_an_image_without_metadata_says_so_on_stderr_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode("jpeg"))
    result = inspect(str(path), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "path": str(path),
        "format": "jpeg",
        "width": 96,
        "height": 64,
        "recipe": None,
        "sidecar": None,
        "content_credentials": NO_CREDENTIALS,
        "charged_usd": None,
        "charged_micros": None,
        "estimate_usd": None,
        "estimate_micros": None,
    }
    assert "carries no flux2 metadata" in " ".join(result.stderr.split())
    table = inspect(str(path))
    assert table.exit_code == 0
    assert "JPEG, 96×64" in table.stdout
    assert "carries no flux2 metadata" in " ".join(table.stderr.split())


def test_minimal_metadata_and_a_shortened_prompt_are_labelled(tmp_path: Path) -> None:
    minimal = apply_level(RECIPE, "minimal")
    path = made_by_flux2(tmp_path / "min.jpg", "jpeg", minimal)
    result = inspect(str(path))
    assert result.exit_code == 0, result.stderr
    assert "metadata minimal (model, seed and tool version only)" in result.stdout
    assert "prompt" not in result.stdout
    long_prompt = "&" * 32_000
    path = made_by_flux2(tmp_path / "long.jpg", "jpeg", replace(RECIPE, prompt=long_prompt))
    result = inspect(str(path))
    assert "shortened to fit in the file" in result.stdout


def test_terminal_escapes_in_a_prompt_never_reach_the_terminal(tmp_path: Path) -> None:
    path = made_by_flux2(
        tmp_path / "evil.png", recipe=replace(RECIPE, prompt="\x1b]0;pwned\x07fox \x1b[2J\udc80")
    )
    result = inspect(str(path))
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "fox" in result.stdout
    raw = inspect(str(path), "--json")
    assert json.loads(raw.stdout)["recipe"]["prompt"].startswith("\x1b]0;pwned")
    assert "\x1b" not in raw.stdout  # JSON escapes it


def test_a_bad_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    result = inspect(str(missing))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"cannot read {missing}" in result.stderr

    text = tmp_path / "notes.png"
    text.write_text("not an image", encoding="utf-8")
    result = inspect(str(text))
    assert result.exit_code == 2
    assert f"{text} is not a usable image" in result.stderr

    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(encode("jpeg")[:300])
    result = inspect(str(truncated))
    assert result.exit_code == 2
    assert str(truncated) in result.stderr

    damaged = tmp_path / "damaged.jpg"
    good = embed(encode("jpeg"), "jpeg", RECIPE)
    damaged.write_bytes(good.replace(b'"seed":1234567', b'"seed":"12345"'))  # same length
    result = inspect(str(damaged))
    assert result.exit_code == 2
    assert f"the flux2 metadata in {damaged} cannot be read: seed must be" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_installed_command_in_a_real_process(tmp_path: Path) -> None:
    path = made_by_flux2(tmp_path / "fox.jpg", "jpeg")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-m", "flux_cli", "inspect", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["recipe"]["seed"] == RECIPE.seed


# -- content credentials ---------------------------------------------------------------------------


def _signed(tmp_path: Path, fmt: str) -> Path:
    from tests.content_credentials import make_signer

    path = tmp_path / f"signed.{'jpg' if fmt == 'jpeg' else fmt}"
    path.write_bytes(make_signer().sign(encode(fmt), fmt))
    return path


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_valid_credentials_are_reported_with_signer_generator_and_source(
    tmp_path: Path, fmt: str
) -> None:
    pytest.importorskip("c2pa")
    path = _signed(tmp_path, fmt)
    result = inspect(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["content_credentials"]
    assert found["present"]
    assert found["checked"]
    assert found["valid"]
    assert found["where"] == {"jpeg": "JPEG APP11 JUMBF", "png": "PNG caBX chunk"}[fmt]
    assert found["signer"] == "flux2 test signer (flux2 tests)"
    assert found["claim_generator"] == "flux2 sandbox 1"
    assert found["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert found["problems"] == []
    table = inspect(str(path))
    text = " ".join(table.stdout.split())
    assert "valid, in the" in text
    assert "signed by flux2 test signer" in text
    assert "source: trainedAlgorithmicMedia" in text


def test_credentials_broken_by_an_added_byte_are_reported_invalid(tmp_path: Path) -> None:
    pytest.importorskip("c2pa")
    path = _signed(tmp_path, "jpeg")
    data = path.read_bytes()
    comment = b"\xff\xfe\x00\x04hi"  # a COM segment right after SOI: pixels unchanged
    path.write_bytes(data[:2] + comment + data[2:])
    result = inspect(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["content_credentials"]
    assert found["present"]
    assert found["checked"]
    assert found["valid"] is False
    assert "assertion.dataHash.mismatch" in found["problems"]
    assert "INVALID (assertion.dataHash.mismatch" in " ".join(inspect(str(path)).stdout.split())


def test_without_c2pa_python_inspect_says_they_are_present_and_how_to_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("c2pa")
    path = _signed(tmp_path, "png")
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError
    result = inspect(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["content_credentials"]
    assert (found["present"], found["checked"], found["valid"]) == (True, False, None)
    assert "flux2-cli[c2pa]" in found["note"]
    text = " ".join(inspect(str(path)).stdout.split())
    assert "present (PNG caBX chunk); install flux2-cli[c2pa]" in text


def test_inspect_does_not_import_c2pa_for_an_image_without_credentials(tmp_path: Path) -> None:
    path = made_by_flux2(tmp_path / "fox.png")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flux_cli", "inspect", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "flux_cli.provenance" in proc.stderr  # the import log is on stderr
    assert " c2pa" not in proc.stderr


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_a_manifest_that_cannot_be_read_is_reported_not_valid(tmp_path: Path, fmt: str) -> None:
    pytest.importorskip("c2pa")
    from tests.test_metadata import with_fake_manifest

    path = tmp_path / f"fake.{fmt}"
    path.write_bytes(with_fake_manifest(fmt))  # a JUMBF header and then junk
    result = inspect(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)["content_credentials"]
    assert found["present"]
    assert found["checked"]
    assert found["valid"] is False
    assert found["note"] == "the manifest cannot be read"
    assert found["problems"]
