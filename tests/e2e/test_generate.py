"""`flux2 generate` as a user runs it: issue 3's checks, each against the sandbox over loopback."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from flux_cli.embedded_catalog import MODELS
from flux_cli.images import sniff_format
from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command

pytestmark = pytest.mark.e2e


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def _paid_requests(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path.endswith(("/images", "/chat/completions")))


def test_first_run_with_builtin_sandbox_writes_a_valid_image(workdir: Path) -> None:
    result = Flux2(workdir, None)(
        "generate", "a red fox", "--sandbox", key=None, env={"OPENROUTER_API_KEY": ""}
    )
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    lines = result.out.splitlines()
    assert len(lines) == 1
    path = workdir / lines[0]
    assert _files(workdir) == [path]
    data = path.read_bytes()
    assert sniff_format(data) == "jpeg"
    assert path.suffix == ".jpg"
    with Image.open(path) as im:
        assert im.size == (1024, 1024)
    for words in ("Estimate", "$0.030", "Charged", "gen-img-"):
        assert words in result.stderr
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def test_prompt_from_stdin_and_image_bytes_to_stdout_feed_a_pipeline(
    flux2: Flux2, workdir: Path
) -> None:
    result = flux2("generate", "-o", "-", stdin=b"a red fox\n")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    consumer = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from PIL import Image; im = Image.open(sys.stdin.buffer); im.load(); print(im.format, im.size)",
        ],
        input=result.stdout,
        capture_output=True,
        check=True,
    )
    assert consumer.stdout.decode().strip() == "JPEG (1024, 1024)"
    assert _files(workdir) == []


def test_a_real_shell_pipeline(sandbox: Sandbox, workdir: Path) -> None:
    script = " ".join(flux2_command())
    pipeline = (
        f'echo "a red fox" | {script} generate -o - --quiet | '
        f'{sys.executable} -c "import sys; from PIL import Image; print(Image.open(sys.stdin.buffer).size)"'
    )
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1024, 1024)"
    assert proc.stderr == ""


def test_image_bytes_to_a_terminal_are_refused(sandbox: Sandbox, workdir: Path) -> None:
    leader, follower = pty.openpty()
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    proc = subprocess.run(
        [*flux2_command(), "generate", "a fox", "-o", "-"],
        cwd=workdir,
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
        check=False,
    )
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 2
    assert b"refusing to write image bytes to a terminal" in proc.stderr
    assert _paid_requests(sandbox) == 0


def test_json_lines_carry_every_documented_field(flux2: Flux2, workdir: Path) -> None:
    result = flux2("generate", "a red fox", "--json", "-n", "2", "--seed", "5")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.out.splitlines()]
    assert len(records) == 2
    fields = {
        "path",
        "model",
        "provider",
        "seed",
        "width",
        "height",
        "format",
        "bytes",
        "sha256",
        "estimate_usd",
        "charged_usd",
        "generation_id",
        "elapsed_s",
        "status",
    }
    for record in records:
        assert fields <= record.keys()
        assert record["status"] == "ok"
        assert record["model"] == "black-forest-labs/flux.2-pro"
        assert record["provider"] == "Black Forest Labs"
        assert record["estimate_usd"] == record["charged_usd"] == 0.03
        data = (workdir / record["path"]).read_bytes()
        assert len(data) == record["bytes"]
        import hashlib

        assert hashlib.sha256(data).hexdigest() == record["sha256"]
    assert sorted(r["seed"] for r in records) == [5, 6]


def test_same_seed_gives_byte_identical_images_and_another_seed_differs(
    flux2: Flux2, workdir: Path
) -> None:
    first = flux2("generate", "a red fox", "--seed", "9", "-o", "a.jpg", "--metadata", "none")
    again = flux2("generate", "a red fox", "--seed", "9", "-o", "b.jpg", "--metadata", "none")
    other = flux2("generate", "a red fox", "--seed", "10", "-o", "c.jpg", "--metadata", "none")
    assert first.returncode == again.returncode == other.returncode == 0
    assert (workdir / "a.jpg").read_bytes() == (workdir / "b.jpg").read_bytes()
    assert (workdir / "a.jpg").read_bytes() != (workdir / "c.jpg").read_bytes()


def test_format_conversion_keeps_extension_and_bytes_in_step(flux2: Flux2, workdir: Path) -> None:
    result = flux2("generate", "a red fox", "--format", "webp")
    assert result.returncode == 0, result.stderr
    path = workdir / result.out.strip()
    assert path.suffix == ".webp"
    assert sniff_format(path.read_bytes()) == "webp"
    png = flux2("generate", "a red fox", "-o", "fox.png")
    assert png.returncode == 0
    assert sniff_format((workdir / "fox.png").read_bytes()) == "png"


def test_existing_file_is_never_overwritten_without_force(flux2: Flux2, workdir: Path) -> None:
    (workdir / "fox.jpg").write_bytes(b"precious")
    result = flux2("generate", "a red fox", "-o", "fox.jpg")
    assert result.returncode == 0, result.stderr
    assert result.out.strip() == "fox-1.jpg"
    assert (workdir / "fox.jpg").read_bytes() == b"precious"
    forced = flux2("generate", "a red fox", "-o", "fox.jpg", "--force")
    assert forced.returncode == 0
    assert forced.out.strip() == "fox.jpg"
    assert sniff_format((workdir / "fox.jpg").read_bytes()) == "jpeg"


def test_unwritable_output_directory_is_detected_before_sending(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "a-file").write_text("x")
    result = flux2("generate", "a red fox", "-o", "a-file/sub/")
    result.assert_clean()
    # 2, a bad -o: 11 means an image was paid for and could not be written (help exit-codes).
    assert result.returncode == 2
    assert "nothing was sent" in result.stderr
    assert _paid_requests(sandbox) == 0
    missing = flux2("generate", "a red fox", "-o", "/proc/nope/x.jpg")
    assert missing.returncode == 2
    assert "cannot write to /proc/nope" in missing.stderr
    assert "nothing was sent" in missing.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    ("fault", "exit_code", "words"),
    [
        (Fault(status=402), 5, "out of credits"),
        (Fault(status=403, variant="moderation"), 6, "moderation"),
        (
            Fault(
                status=400,
                message="No provider for black-forest-labs/flux.2-pro supports the requested parameter(s): steps",
            ),
            2,
            "refused the request",
        ),
        (Fault(kind="error-in-200"), 10, "inside a successful answer"),
        (Fault(kind="empty-data"), 10, "no image"),
        (Fault(kind="corrupt-base64"), 10, "corrupt"),
    ],
)
def test_failures_end_with_the_right_code_one_message_and_no_file(
    flux2: Flux2, sandbox: Sandbox, workdir: Path, fault: Fault, exit_code: int, words: str
) -> None:
    sandbox.push_fault("images", fault)
    result = flux2("generate", "a red fox")
    result.assert_clean()
    assert result.returncode == exit_code, result.stderr
    assert result.out == ""
    assert "flux2: error: " in result.stderr
    assert words in result.stderr
    assert [p for p in _files(workdir) if p.suffix in {".jpg", ".png"}] == []
    assert _paid_requests(sandbox) == 1


def test_no_key_is_exit_4_before_anything_is_sent(flux2: Flux2, sandbox: Sandbox) -> None:
    result = flux2("generate", "a red fox", key="")
    assert result.returncode == 4
    assert "no OpenRouter API key found" in result.stderr
    assert _paid_requests(sandbox) == 0
    assert "Estimate" not in result.stderr


def test_wrong_key_is_exit_4(workdir: Path) -> None:
    with Sandbox(SandboxConfig(port=0, key="sk-or-v1-theonlyrightkey0123456789")) as sb:
        result = Flux2(workdir, sb.base_url)("generate", "a red fox")
    result.assert_clean()
    assert result.returncode == 4
    assert "rejected the API key" in result.stderr


def test_429_then_success_waits_as_told_and_retries_once(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=429, retry_after=1))
    result = flux2("generate", "a red fox")
    assert result.returncode == 0, result.stderr
    posts = [r for r in sandbox.requests if r.path.endswith("/images")]
    assert len(posts) == 2
    assert posts[1].time - posts[0].time >= 0.9
    assert "retrying in 1.0 s" in result.stderr


def test_429_forever_is_exit_8_after_three_attempts(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.set_rule("images", Fault(status=429))
    result = flux2("generate", "a red fox")
    result.assert_clean()
    assert result.returncode == 8
    assert _paid_requests(sandbox) == 3
    assert "nothing was billed" in result.stderr


def test_502_then_success(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=502))
    result = flux2("generate", "a red fox")
    assert result.returncode == 0, result.stderr
    assert _paid_requests(sandbox) == 2


def test_read_timeout_after_sending_is_exit_9_with_exactly_one_request(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    sandbox.push_fault("images", Fault(kind="slow", delay=3))
    result = flux2("generate", "a red fox", "--timeout", "1")
    result.assert_clean()
    assert result.returncode == 9
    assert _paid_requests(sandbox) == 1
    assert "may have been billed" in result.stderr
    assert _files(workdir) == []


def test_dropped_answer_after_headers_is_exit_9_with_the_generation_id(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    sandbox.push_fault("images", Fault(kind="drop-after-headers"))
    result = flux2("generate", "a red fox")
    assert result.returncode == 9, result.stderr
    assert "gen-img-" in result.stderr
    assert _paid_requests(sandbox) == 1


@pytest.mark.parametrize("model", [m.alias for m in MODELS])
@pytest.mark.parametrize(
    "shape", [("-a", "1:1"), ("-a", "16:9"), ("-a", "21:9"), ("--size", "2048x2048")]
)
def test_estimate_equals_the_charge(flux2: Flux2, model: str, shape: tuple[str, str]) -> None:
    result = flux2("generate", "a red fox", "-m", model, *shape, "--json", "-q")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["charged_usd"] == record["estimate_usd"]
    if shape[0] == "--size":
        assert (record["width"], record["height"]) == (2048, 2048)


def test_chat_route_end_to_end(flux2: Flux2, sandbox: Sandbox) -> None:
    result = flux2("generate", "a red fox", "--api", "chat", "--json", "-q", "-a", "16:9")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["route"] == "chat"
    assert (record["width"], record["height"]) == (1344, 768)
    assert record["charged_usd"] == record["estimate_usd"]
    body = next(r.body for r in sandbox.requests if r.path.endswith("/chat/completions"))
    assert body["modalities"] == ["image"]


def test_size_on_the_chat_route_falls_back_to_the_nearest_ratio_and_says_so(flux2: Flux2) -> None:
    result = flux2("generate", "a red fox", "--api", "chat", "--size", "1920x1088", "--json")
    assert result.returncode == 0, result.stderr
    assert "not honoured" in result.stderr
    assert "16:9" in result.stderr
    record = json.loads(result.out)
    assert record["charged_usd"] == record["estimate_usd"]


def test_max_cost_blocks_before_sending(flux2: Flux2, sandbox: Sandbox) -> None:
    result = flux2("generate", "a red fox", "-m", "max", "--max-cost", "0.05")
    assert result.returncode == 7
    assert "over --max-cost" in result.stderr
    assert _paid_requests(sandbox) == 0


def test_dry_run_prints_the_request_and_sends_nothing(flux2: Flux2, sandbox: Sandbox) -> None:
    result = flux2("generate", "a red fox", "--seed", "3", "--dry-run")
    result.assert_clean()
    assert result.returncode == 0
    request = json.loads(result.out)
    assert request["body"] == {
        "model": "black-forest-labs/flux.2-pro",
        "prompt": "a red fox",
        "n": 1,
        "seed": 3,
    }
    assert request["headers"]["Authorization"].startswith("Bearer sk-or-v1-…")
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["   "], b"", "prompt is empty"),
        (["-"], b"\xff\xfe bad", "not valid UTF-8"),
        (["a fox", "-a", "7:5"], b"", "aspect ratio"),
        (["a fox", "--size", "1000x1000"], b"", "multiple of 16"),
        (["a fox", "-m", "nope"], b"", "unknown model"),
        (["a fox", "-o", "x.gif"], b"", "not GIF"),
        (["a fox", "-n", "2", "-o", "-"], b"", "single image"),
        (["a fox", "--format", "png", "-o", "x.jpg"], b"", "contradicts"),
    ],
)
def test_usage_errors_send_nothing(
    flux2: Flux2, sandbox: Sandbox, args: list[str], stdin: bytes, words: str
) -> None:
    result = flux2("generate", *args, stdin=stdin)
    result.assert_clean()
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert [r for r in sandbox.requests if r.method == "POST"] == []


def test_partial_failure_of_n_is_exit_3(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    sandbox.push_fault("images", Fault(kind="empty-data"))
    result = flux2("generate", "a red fox", "-n", "3", "--json")
    assert result.returncode == 3, result.stderr
    records = [json.loads(line) for line in result.out.splitlines()]
    assert sorted(r["status"] for r in records) == ["failed", "ok", "ok"]
    assert len([p for p in _files(workdir) if p.suffix == ".jpg"]) == 2


def test_a_size_the_endpoint_does_not_take_falls_back_before_sending(workdir: Path) -> None:
    """The live catalog lists no width/height passthrough: say so, ask for the nearest ratio,
    and estimate what is actually asked for (README.md#commands)."""
    with Sandbox(SandboxConfig(port=0, size_passthrough=False)) as sb:
        result = Flux2(workdir, sb.base_url)(
            "generate", "a red fox", "--size", "2048x1152", "--json"
        )
        body = next(r.body for r in sb.requests if r.path.endswith("/images"))
    assert result.returncode == 0, result.stderr
    assert "2048x1152 is not honoured" in result.stderr
    assert "16:9" in result.stderr
    assert body["aspect_ratio"] == "16:9"
    assert "provider" not in body
    record = json.loads(result.out)
    assert (record["width"], record["height"]) == (1344, 768)
    assert record["charged_usd"] == record["estimate_usd"] == 0.03


def test_with_the_spinner_on_a_terminal_the_path_still_goes_to_stdout(
    sandbox: Sandbox, workdir: Path
) -> None:
    """stderr a terminal (spinner), stdout redirected: the path must reach stdout, not the screen."""
    leader, follower = pty.openpty()
    env = {
        **os.environ,
        "FLUX2_BASE_URL": sandbox.base_url,
        "OPENROUTER_API_KEY": CANARY_KEY,
        "TERM": "xterm",
    }
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [*flux2_command(), "generate", "a fox", "-o", "fox.jpg"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=60,
        check=False,
    )
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 0
    assert proc.stdout == b"fox.jpg\n"
