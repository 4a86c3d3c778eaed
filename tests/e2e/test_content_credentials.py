"""Images that arrive with C2PA content credentials, end to end: the sandbox signs its answers with
a certificate the tests make, `flux2 generate` and `flux2 edit` write them byte for byte at every
metadata level (the recipe in a sidecar), c2pa-python validates every written file, and
`inspect` and `--from` read the sidecar. Without credentials, exiftool reads the standard
vocabulary flux2 embeds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from flux_cli import __version__
from flux_cli.sandbox import Sandbox, SandboxConfig
from flux_cli.xmp import DIGITAL_SOURCE_TYPE
from tests.content_credentials import (
    SIGNER_NAME,
    assert_credentials_valid,
    exif_tags,
    make_signer,
)
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e

EXTENSIONS = {"png": "png", "jpeg": "jpg"}
PROMPT = "a red fox & a <blue> hare"


@pytest.fixture
def signing_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0, content_signer=make_signer())) as sb:
        yield sb


@pytest.fixture
def signed(signing_sandbox: Sandbox, workdir: Path) -> Flux2:
    return Flux2(workdir, signing_sandbox.base_url)


def _served(sandbox: Sandbox, generation_id: str, fmt: str) -> bytes:
    found = sandbox.files.get(f"{generation_id}.{EXTENSIONS[fmt]}")
    assert found is not None
    return found[0]


def _make(flux2: Flux2, workdir: Path, command: str, fmt: str, level: str) -> list[str]:
    args = [command, PROMPT, "--format", fmt, "--metadata", level, "--size", "256x256"]
    if command == "edit":
        Image.new("RGB", (64, 64), (10, 120, 200)).save(workdir / "ref.png")
        args += ["-i", "ref.png"]
    return args


@pytest.mark.parametrize("level", ["full", "minimal", "none"])
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("command", ["generate", "edit"])
def test_credentials_stay_valid_and_the_recipe_goes_in_a_sidecar(
    signed: Flux2, signing_sandbox: Sandbox, workdir: Path, command: str, fmt: str, level: str
) -> None:
    result = signed(*_make(signed, workdir, command, fmt, level), "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    path = workdir / record["path"]
    data = path.read_bytes()
    assert data == _served(signing_sandbox, record["generation_id"], fmt)  # byte for byte
    assert_credentials_valid(data, fmt)
    assert record["content_credentials"] == "kept"
    sidecar = path.with_suffix(".xmp")
    inspected = signed("inspect", str(path), "--json")
    assert inspected.returncode == 0, inspected.stderr
    report = json.loads(inspected.out)
    assert report["content_credentials"]["valid"] is True
    if level == "none":
        assert record["sidecar"] is None
        assert not list(workdir.glob("*.xmp"))
        assert report["recipe"] is None
        refused = signed("generate", "--from", str(path), "--dry-run")
        assert refused.returncode == 2
        assert "carries no flux2 recipe" in refused.stderr
        return
    assert workdir / record["sidecar"] == sidecar
    assert sidecar.exists()
    assert report["sidecar"] == str(sidecar)
    assert report["recipe"]["seed"] == record["seed"]
    assert report["recipe"]["level"] == level
    assert (report["recipe"].get("prompt") == PROMPT) is (level == "full")
    credentials = report["content_credentials"]
    assert credentials["present"]
    assert credentials["checked"]
    assert credentials["valid"]
    assert SIGNER_NAME in credentials["signer"]
    assert credentials["claim_generator"].startswith("flux2 sandbox")
    assert credentials["digital_source_type"] == DIGITAL_SOURCE_TYPE

    again = signed("generate", "--from", str(path), "a blue hare", "--dry-run")
    assert again.returncode == 0, again.stderr
    body = json.loads(again.out)["body"]
    assert body["seed"] == record["seed"]
    assert body["prompt"] == "a blue hare"


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_from_and_inspect_need_no_flag_override_with_a_full_sidecar(
    signed: Flux2, workdir: Path, fmt: str
) -> None:
    made = signed("generate", PROMPT, "--format", fmt, "--size", "256x256", "-o", f"fox.{fmt}")
    assert made.returncode == 0, made.stderr
    again = signed("generate", "--from", f"fox.{fmt}", "--dry-run")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.out)["body"]["prompt"] == PROMPT
    table = signed("inspect", f"fox.{fmt}")
    assert table.returncode == 0, table.stderr
    text = " ".join(table.out.split())
    assert "(sidecar)" in text
    assert "valid, in the" in text
    assert PROMPT in text


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("command", ["generate", "edit"])
def test_stdout_gets_the_untouched_signed_bytes(
    signed: Flux2, signing_sandbox: Sandbox, workdir: Path, command: str, fmt: str
) -> None:
    result = signed(*_make(signed, workdir, command, fmt, "full"), "-o", "-")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    generation = signing_sandbox.ledger.generations()[-1]
    assert result.stdout == _served(signing_sandbox, generation.id, fmt)
    assert_credentials_valid(result.stdout, fmt)
    assert "no sidecar" in result.stderr
    assert not list(workdir.glob("*.xmp"))


def test_a_local_conversion_says_it_drops_the_credentials(signed: Flux2, workdir: Path) -> None:
    result = signed("generate", PROMPT, "--format", "webp", "--size", "256x256", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["content_credentials"] == "dropped"
    assert record["sidecar"] is None
    assert "dropped the content credentials" in " ".join(result.stderr.split())
    table = signed("generate", PROMPT, "--format", "webp", "--size", "256x256")
    assert "content credentials dropped" in " ".join(table.stderr.split())
    inspected = signed("inspect", record["path"], "--json")
    report = json.loads(inspected.out)
    assert report["content_credentials"]["present"] is False
    assert report["recipe"]["prompt"] == PROMPT  # embedded in the converted file


def test_a_sidecar_that_belongs_to_another_image_is_not_used(signed: Flux2, workdir: Path) -> None:
    for name in ("a.jpg", "b.jpg"):
        made = signed("generate", PROMPT, "--size", "256x256", "-o", name)
        assert made.returncode == 0, made.stderr
    (workdir / "a.xmp").write_bytes((workdir / "b.xmp").read_bytes())
    result = signed("inspect", "a.jpg", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.out)["recipe"] is None
    assert "describes another image" in result.stderr


def test_an_existing_sidecar_name_is_not_overwritten(signed: Flux2, workdir: Path) -> None:
    (workdir / "fox.xmp").write_bytes(b"someone else's")
    made = signed("generate", PROMPT, "--size", "256x256", "-o", "fox.jpg", "--json")
    assert made.returncode == 0, made.stderr
    assert (workdir / "fox.xmp").read_bytes() == b"someone else's"
    assert json.loads(made.out)["sidecar"] == "fox.jpg.xmp"
    inspected = signed("inspect", "fox.jpg", "--json")
    assert json.loads(inspected.out)["recipe"]["prompt"] == PROMPT


# -- without credentials: what other tools read ---------------------------------------------------


@pytest.mark.parametrize("level", ["full", "minimal", "none"])
@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_exiftool_reads_the_standard_vocabulary(
    flux2: Flux2, workdir: Path, fmt: str, level: str
) -> None:
    result = flux2("generate", PROMPT, "--format", fmt, "--metadata", level, "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["content_credentials"] is None
    tags = exif_tags(workdir / record["path"])
    assert not [key for key in tags if key.endswith(":Warning")], tags
    if level == "none":
        assert not [key for key in tags if key.startswith("XMP")], tags
        return
    assert tags["XMP-iptcExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert tags["XMP-xmp:CreatorTool"] == f"flux2 {__version__}"
    if level == "full":
        assert tags["XMP-dc:Description"] == PROMPT
    else:
        assert "XMP-dc:Description" not in tags


def test_exiftool_reads_the_sidecar(signed: Flux2, workdir: Path) -> None:
    made = signed("generate", PROMPT, "--size", "256x256", "-o", "fox.jpg")
    assert made.returncode == 0, made.stderr
    tags = exif_tags(workdir / "fox.xmp")
    assert tags["XMP-iptcExt:DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert tags["XMP-xmp:CreatorTool"] == f"flux2 {__version__}"
    assert tags["XMP-dc:Description"] == PROMPT
