"""`flux2 edit` as a user runs it: issue 4's checks against the sandbox over loopback."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from flux_cli.sandbox import Sandbox
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command
from tests.test_images import handmade_png

pytestmark = pytest.mark.e2e


def _image(
    path: Path,
    size: tuple[int, int],
    fmt: str = "PNG",
    colour: tuple[int, ...] = (200, 60, 30),
    **save: object,
) -> Path:
    mode = "RGBA" if len(colour) == 4 else "RGB"
    Image.new(mode, size, colour).save(path, fmt, **save)
    return path


def _sent_references(sandbox: Sandbox) -> list[bytes]:
    body = next(r.body for r in sandbox.requests if r.path.endswith("/images"))
    urls = [item["image_url"]["url"] for item in body.get("input_references", [])]
    return [base64.b64decode(url.split(",", 1)[1]) for url in urls if url.startswith("data:")]


def _paid(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path.endswith(("/images", "/chat/completions")))


def test_edit_writes_the_image_and_prices_the_reference(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    _image(workdir / "photo.jpg", (1600, 1200), "JPEG")
    result = flux2("edit", "make it night", "-i", "photo.jpg", "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["estimate_usd"] == record["charged_usd"] == 0.06  # $0.03 output + 2 MP × $0.015
    assert "reference 1: photo.jpg" in result.stderr
    assert "$0.030" in result.stderr
    with Image.open(workdir / record["path"]) as image:
        assert image.size == (1168, 880)


def test_a_rotated_photo_with_gps_is_sent_upright_and_without_metadata(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    # Stored landscape with red in the top-left quarter; EXIF orientation 6 means "rotate 90° clockwise
    # to display", so upright it is portrait with red in the top-right quarter.
    stored = Image.new("RGB", (400, 200), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    stored.save(workdir / "photo.jpg", "JPEG", exif=exif.tobytes(), quality=95)
    result = flux2("edit", "make it night", "-i", "photo.jpg")
    assert result.returncode == 0, result.stderr
    assert "removed GPS location data from photo.jpg" in result.stderr
    (sent,) = _sent_references(sandbox)
    with Image.open(io.BytesIO(sent)) as image:
        assert image.size == (192, 400)
        assert not image.getexif()
        assert not {"exif", "icc_profile", "xmp"} & image.info.keys()
        rgb = image.convert("RGB")
        assert _pixel(rgb, 180, 10)[0] > 200  # top-right: red
        assert _pixel(rgb, 10, 10)[2] > 200  # top-left: blue
        assert _pixel(rgb, 180, 390)[2] > 200  # bottom-right: blue
    assert b"PhoneMaker" not in sent
    assert b"Exif" not in sent


def _pixel(image: Image.Image, x: int, y: int) -> tuple[int, ...]:
    value = image.getpixel((x, y))
    assert isinstance(value, tuple)
    return value


def test_transparency_is_kept_as_png_and_opaque_images_become_jpeg(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    _image(workdir / "logo.png", (320, 240), colour=(255, 0, 0, 100))
    _image(workdir / "flat.png", (320, 240), colour=(255, 0, 0, 255))
    result = flux2("edit", "put it on a wall", "-i", "logo.png", "-i", "flat.png")
    assert result.returncode == 0, result.stderr
    logo, flat = _sent_references(sandbox)
    assert logo.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(logo)) as image:
        assert image.mode == "RGBA"
    assert flat.startswith(b"\xff\xd8\xff")


def test_eight_references_on_pro_work_and_nine_are_refused_before_sending(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    refs = [str(_image(workdir / f"r{i}.png", (256, 256))) for i in range(9)]
    eight = flux2("edit", "a collage", *[a for r in refs[:8] for a in ("-i", r)], "--json", "-q")
    assert eight.returncode == 0, eight.stderr
    assert json.loads(eight.out)["charged_usd"] == 0.03 + 8 * 0.015
    sandbox.clear_requests()
    nine = flux2("edit", "a collage", *[a for r in refs for a in ("-i", r)])
    nine.assert_clean()
    assert nine.returncode == 2
    assert "at most 8 reference images" in nine.stderr
    assert _paid(sandbox) == 0


def test_klein_takes_at_most_four(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    refs = [str(_image(workdir / f"r{i}.png", (128, 128))) for i in range(5)]
    four = flux2("edit", "x", "-m", "klein", *[a for r in refs[:4] for a in ("-i", r)], "-q")
    assert four.returncode == 0, four.stderr
    five = flux2("edit", "x", "-m", "klein", *[a for r in refs for a in ("-i", r)])
    assert five.returncode == 2
    assert "klein takes at most 4" in five.stderr


def _bad_inputs(directory: Path) -> dict[str, tuple[Path, str]]:
    bomb = directory / "bomb.png"
    bomb.write_bytes(handmade_png(30_000, 30_000))
    good = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(good, "PNG")
    truncated = directory / "truncated.png"
    truncated.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    gif = directory / "anim.gif"
    Image.new("RGB", (64, 64)).save(gif, "GIF")
    text = directory / "notes.png"
    text.write_text("this is not an image\n")
    folder = directory / "folder.png"
    folder.mkdir()
    return {
        "bomb": (bomb, "bomb.png"),
        "truncated": (truncated, "truncated.png"),
        "gif": (gif, "anim.gif"),
        "text": (text, "notes.png"),
        "missing": (directory / "nowhere.jpg", "nowhere.jpg: no such file"),
        "directory": (folder, "folder.png: is a directory"),
    }


@pytest.mark.parametrize("case", ["bomb", "truncated", "gif", "text", "missing", "directory"])
def test_bad_inputs_are_usage_errors_naming_the_file_with_nothing_sent(
    flux2: Flux2, sandbox: Sandbox, workdir: Path, case: str
) -> None:
    path, words = _bad_inputs(workdir)[case]
    result = flux2("edit", "fix it", "-i", str(path))
    result.assert_clean()
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
    assert _paid(sandbox) == 0


def test_a_chain_of_two_edits_through_pipes(sandbox: Sandbox, workdir: Path) -> None:
    _image(workdir / "a.png", (512, 384))
    flux2 = " ".join(flux2_command())
    chain = f'cat a.png | {flux2} edit "make it night" -i - -o - -q | {flux2} edit "add snow" -i - -o out.png -q'
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", chain],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "out.png"
    with Image.open(workdir / "out.png") as image:
        assert image.format == "PNG"
    assert _paid(sandbox) == 2


def test_stdin_cannot_carry_both_the_image_and_the_prompt(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    data = (_image(workdir / "a.png", (128, 128))).read_bytes()
    result = flux2("edit", "-i", "-", stdin=data)
    assert result.returncode == 2
    assert "prompt cannot come from stdin" in result.stderr
    twice = flux2("edit", "x", "-i", "-", "-i", "-", stdin=data)
    assert twice.returncode == 2
    assert "only one -i" in twice.stderr
    assert _paid(sandbox) == 0


MIXED_SIZES = [
    (512, 512),
    (1024, 1024),
    (1600, 1200),
    (2048, 2048),
    (4000, 3000),
    (300, 900),
    (1920, 1080),
    (3000, 3000),
]


@pytest.mark.parametrize("model", ["pro", "max"])
@pytest.mark.parametrize("count", [0, 1, 3, 8])
def test_the_estimate_equals_the_charge_for_mixed_references(
    flux2: Flux2, workdir: Path, model: str, count: int
) -> None:
    args: list[str] = []
    for i, size in enumerate(MIXED_SIZES[:count]):
        args += ["-i", str(_image(workdir / f"m{i}.jpg", size, "JPEG"))]
    command = "edit" if count else "generate"
    result = flux2(command, "mixed", "-m", model, *args, "--json", "-q")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["charged_usd"] == record["estimate_usd"]


def test_max_input_mp_lowers_what_a_reference_costs(flux2: Flux2, workdir: Path) -> None:
    _image(workdir / "big.jpg", (2048, 2048), "JPEG")
    full = json.loads(flux2("edit", "x", "-i", "big.jpg", "--json", "-q", "-a", "1:1").out)
    small = json.loads(
        flux2("edit", "x", "-i", "big.jpg", "--json", "-q", "-a", "1:1", "--max-input-mp", "1").out
    )
    assert full["charged_usd"] == 0.03 + 4 * 0.015
    assert small["charged_usd"] == 0.03 + 1 * 0.015


def test_url_references_are_sent_as_urls_or_inlined_on_request(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    first = json.loads(flux2("generate", "a fox", "--json", "-q").out)
    url = sandbox.file_url(f"{first['generation_id']}.jpg")
    as_url = flux2("edit", "x", "-i", url, "--json", "-q")
    assert as_url.returncode == 0, as_url.stderr
    body = [r.body for r in sandbox.requests if r.path.endswith("/images")][-1]
    assert body["input_references"][0]["image_url"]["url"] == url
    inlined = flux2("edit", "x", "-i", url, "--inline-urls", "--json", "-q")
    assert inlined.returncode == 0, inlined.stderr
    body = [r.body for r in sandbox.requests if r.path.endswith("/images")][-1]
    assert body["input_references"][0]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_data_url_references_are_prepared_like_files(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    raw = _image(workdir / "a.png", (640, 480)).read_bytes()
    data_url = "data:image/png;base64," + base64.b64encode(raw).decode()
    result = flux2("edit", "x", "-i", data_url, "--json", "-q")
    assert result.returncode == 0, result.stderr
    (sent,) = _sent_references(sandbox)
    assert sent.startswith(b"\xff\xd8\xff")  # opaque: re-encoded as JPEG


def test_edit_on_the_chat_route_sends_image_parts(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    _image(workdir / "a.png", (640, 480))
    result = flux2("edit", "x", "-i", "a.png", "--api", "chat", "--json", "-q")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["charged_usd"] == record["estimate_usd"]
    body = next(r.body for r in sandbox.requests if r.path.endswith("/chat/completions"))
    content = body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "x"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_python_can_read_the_piped_edit(sandbox: Sandbox, workdir: Path) -> None:
    """The second half of a pipeline gets a decodable image on stdout."""
    _image(workdir / "a.png", (256, 256))
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    produced = subprocess.run(
        [*flux2_command(), "edit", "x", "-i", "a.png", "-o", "-", "-q"],
        cwd=workdir,
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from PIL import Image; print(Image.open(sys.stdin.buffer).size)",
        ],
        input=produced.stdout,
        capture_output=True,
        check=True,
    )
    assert check.stdout.strip() == b"(256, 256)"
