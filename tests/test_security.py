"""Security checks of docs/reliability.md#security not covered elsewhere (issue 7 item 5).

Already covered elsewhere and not repeated: the canary key across e2e runs (tests/e2e), key file
modes and symlinked key files (tests/cli/test_auth.py, tests/test_credentials.py), redaction
(tests/test_metadata.py, tests/cli/test_boundary.py), plain http only for loopback at the
function level (tests/test_credentials.py), no redirects on POST (tests/openrouter/test_client.py),
write_atomic against symlinks/FIFOs (tests/test_atomic_write.py).
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from PIL import Image

from flux_cli.cli.registry import app
from flux_cli.credentials import ApiKey, validate_base_url
from flux_cli.errors import UsageError
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command

BASE = "https://openrouter.test/api/v1"
REQUEST = ImageRequest(model="black-forest-labs/flux.2-pro", prompt="a red fox")
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10))}
WINDOWS_DEVICES |= {f"LPT{i}" for i in range(1, 10)}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def flux2(sandbox: Sandbox, workdir: Path) -> Flux2:
    return Flux2(workdir, sandbox.base_url)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _chat_with_url(url: str) -> dict[str, object]:
    return {
        "id": "gen-sec",
        "choices": [{"message": {"images": [{"image_url": {"url": url}}]}}],
        "usage": {"cost": 0.03},
    }


def _client(handler: object) -> OpenRouterClient:
    return OpenRouterClient(
        BASE,
        ApiKey(CANARY_KEY, "test"),
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


# -- §5.9 host pinning ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_never_followed_with_the_key(status: int) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers={"location": "https://evil.example/api/v1/images"})

    with _client(handler) as client, pytest.raises(E.OpenRouterError):
        client.generate(REQUEST)
    assert {r.url.host for r in seen} == {"openrouter.test"}


def test_authenticated_gets_do_not_follow_redirects_either() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "https://evil.example/key"})

    with _client(handler) as client, pytest.raises(E.OpenRouterError):
        client.get_json("key")
    assert {r.url.host for r in seen} == {"openrouter.test"}


def test_the_chat_image_download_carries_no_key_and_follows_no_redirect() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "openrouter.test":
            return httpx.Response(200, json=_chat_with_url("https://cdn.example/i.jpg"))
        if request.url.host == "cdn.example":
            return httpx.Response(302, headers={"location": "https://evil.example/i.jpg"})
        return httpx.Response(200, content=_jpeg())

    with _client(handler) as client, pytest.raises(E.BadResponseError, match="302"):
        client.generate(REQUEST, "chat")
    assert [r.url.host for r in seen] == ["openrouter.test", "cdn.example"]
    download = seen[1]
    assert "authorization" not in download.headers
    assert CANARY_KEY not in str(download.headers) + str(download.url)


@pytest.mark.parametrize(
    "url",
    [
        "http://openrouter.ai/api/v1",
        "http://127.0.0.1.evil.example/api/v1",
        "http://localhost.evil.example/api/v1",
        "http://evil.example#@127.0.0.1/api/v1",
        "http://evil.example/127.0.0.1",
        "http://[::ffff:8.8.8.8]/api/v1",
        "http://10.0.0.1:8788/api/v1",
        "HTTP://openrouter.ai/api/v1",
        "ftp://127.0.0.1/api/v1",
        "https://user:pw@openrouter.ai/api/v1",
    ],
)
def test_plain_http_or_odd_base_urls_off_this_machine_are_refused(url: str) -> None:
    with pytest.raises(UsageError):
        validate_base_url(url)
    with pytest.raises(UsageError):
        OpenRouterClient(url, ApiKey(CANARY_KEY, "t"))


def test_the_cli_refuses_a_plain_http_base_url_before_sending_anything(tmp_path: Path) -> None:
    result = Flux2(tmp_path, "http://203.0.113.9:8788/api/v1")("generate", "a fox", timeout=30)
    result.assert_clean()
    assert result.returncode == 2, result.stderr
    assert "https" in result.stderr


# -- §5.11–13 output names and confinement ---------------------------------------------------------

HOSTILE_PROMPTS = [
    "../../../../etc/passwd",
    "/etc/shadow",
    "a\x00b fox",
    "line one\nline two\r\nthree",
    "\u202egnp.exe\u202c fox \u2066x\u2069",
    "CON",
    "nul",
    "LPT1.txt",
    "é" * 300,
    "🦊" * 120,
    ". .. ...",
    "-rf --help",
    "\x1b]52;c;SGVsbG8=\x07\x1b[31mred",
]


@pytest.mark.e2e
@pytest.mark.parametrize("prompt", HOSTILE_PROMPTS, ids=range(len(HOSTILE_PROMPTS)))
def test_generated_names_from_hostile_prompts_stay_one_clean_component(
    flux2: Flux2, workdir: Path, prompt: str
) -> None:
    if "\x00" in prompt:  # argv cannot carry NUL; on stdin such a prompt is refused outright
        result = flux2("generate", "-o", "x/{slug}.{ext}", stdin=prompt.encode())
        result.assert_clean()
        assert result.returncode == 2
        assert "NUL" in result.stderr
        assert list(workdir.iterdir()) == []
        return
    result = flux2("generate", "-o", "x/{slug}.{ext}", "--", prompt)
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    outdir = workdir / "x"
    written = [p for p in outdir.iterdir() if not p.name.startswith(".")]
    assert len(written) == 1, written
    path = written[0]
    assert path.parent.resolve() == outdir.resolve()
    assert [p.name for p in workdir.iterdir()] == ["x"]  # nothing escaped the output dir
    name = path.name
    assert len(name.encode("utf-8")) <= 255
    assert name == unicodedata.normalize("NFC", name)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name)
    assert not any(ch in name for ch in (*BIDI, "/", "\\", "\x00"))
    assert not name.startswith(("-", "."))
    assert not name.rstrip(".jpg").endswith((".", " "))
    assert name.split(".")[0].upper() not in WINDOWS_DEVICES
    assert path.suffix == ".jpg"


@pytest.mark.e2e
@pytest.mark.parametrize("force", [False, True])
def test_no_write_through_a_symlink_the_user_names(
    flux2: Flux2, workdir: Path, tmp_path: Path, force: bool
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (workdir / "out.jpg").symlink_to(victim)
    args = ["generate", "-o", "out.jpg", "a fox"] + (["--force"] if force else [])
    result = flux2(*args)
    result.assert_clean()
    assert victim.read_text() == "precious"
    assert (workdir / "out.jpg").is_symlink()


@pytest.mark.e2e
def test_no_write_into_a_fifo_and_no_hang(flux2: Flux2, workdir: Path) -> None:
    os.mkfifo(workdir / "out.jpg")
    result = flux2("generate", "-o", "out.jpg", "--force", "a fox", timeout=30)
    result.assert_clean()
    assert (workdir / "out.jpg").is_fifo()


# -- §5.16 SVG and unknown media types -------------------------------------------------------------

SVG = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'><rect/></svg>"


@pytest.mark.parametrize("route", ["images", "chat"])
def test_svg_answers_are_refused(route: str) -> None:
    b64 = base64.b64encode(SVG).decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if route == "chat":
            return httpx.Response(200, json=_chat_with_url(f"data:image/svg+xml;base64,{b64}"))
        return httpx.Response(
            200, json={"data": [{"b64_json": b64, "media_type": "image/svg+xml"}]}
        )

    with _client(handler) as client, pytest.raises(E.BadResponseError, match="SVG") as info:
        client.generate(REQUEST, route)
    assert info.value.exit_code == 10


# -- §5.17 terminal injection --------------------------------------------------------------------

ESCAPES = "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b[31mred\x1b[0m\x9b31m\x1b]0;title\x1b\\ end"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=400, message=ESCAPES),
        Fault(kind="status", status=402, message=ESCAPES),
        Fault(kind="status", status=500, message=ESCAPES),
        Fault(kind="error-in-200", message=ESCAPES),
    ],
    ids=["400", "402", "500", "error-in-200"],
)
def test_escape_sequences_in_server_messages_never_reach_the_terminal(
    flux2: Flux2, sandbox: Sandbox, fault: Fault
) -> None:
    sandbox.push_fault("images", fault)
    result = flux2("generate", "a fox")
    result.assert_clean()
    assert result.returncode != 0
    assert "\x1b" not in result.stderr
    assert "\x9b" not in result.stderr
    assert "\x07" not in result.stderr
    assert "red" in result.stderr  # the words survive, the controls do not


# -- §5.1 the key is never on the command line; §5.6 / §1.27 crash output -------------------------


def test_no_option_takes_a_key_value() -> None:
    """A key passed as an argument would show in `ps` and shell history. Allowed: `config
    get/set/unset KEY` (a setting's name) and `sandbox --key` (the sandbox's own fake key)."""
    allowed = {
        "flux2 sandbox --key key",
        *(f"flux2 config {c} key key" for c in ("get", "set", "unset")),
    }
    root = typer.main.get_command(app)

    def walk(command: Any, path: str) -> list[str]:
        found = []
        for param in command.params:
            names = " ".join([*getattr(param, "opts", []), param.name or ""]).lower()
            takes_value = not getattr(param, "is_flag", False) and param.nargs != 0
            secret = any(w in names for w in ("key", "token", "secret", "password"))
            if takes_value and secret and "stdin" not in names and "file" not in names:
                found.append(f"{path} {names}")
        for name, sub in (getattr(command, "commands", None) or {}).items():
            found += walk(sub, f"{path} {name}")
        return found

    assert set(walk(root, "flux2")) <= allowed


@pytest.mark.e2e
def test_the_key_is_not_in_the_process_list_while_a_call_runs(
    sandbox: Sandbox, workdir: Path
) -> None:
    sandbox.push_fault("images", Fault(kind="slow", delay=3))
    env = dict(os.environ, OPENROUTER_API_KEY=CANARY_KEY, FLUX2_BASE_URL=sandbox.base_url)
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "a fox"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            r.path.endswith("/images") for r in sandbox.requests
        ):
            time.sleep(0.05)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        listing = subprocess.run(
            ["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=False
        ).stdout
    finally:
        proc.wait(timeout=30)
    assert b"generate" in cmdline
    assert CANARY_KEY.encode() not in cmdline
    assert CANARY_KEY not in listing
    assert CANARY_KEY[9:] not in listing


@pytest.mark.e2e
def test_debug_traceback_from_inside_the_request_path_never_shows_the_key(
    sandbox: Sandbox, workdir: Path
) -> None:
    """An internal error raised where the key is a local and in the exception text."""
    code = (
        "import sys\n"
        "from flux_cli.openrouter import client as c\n"
        "def broken(self, *args, **kwargs):\n"
        "    key = self._http.headers['authorization']\n"
        "    raise RuntimeError('exploded while sending with ' + key)\n"
        "c.OpenRouterClient._attempt = broken\n"
        "from flux_cli.cli import main\n"
        "main.run(sys.argv[1:])\n"
    )
    env = dict(os.environ, OPENROUTER_API_KEY=CANARY_KEY, FLUX2_BASE_URL=sandbox.base_url)
    for debug in ([], ["--debug"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *debug, "generate", "a fox"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        assert "RuntimeError" in proc.stderr
        assert ("Traceback" in proc.stderr) == bool(debug)
        for output in (proc.stdout, proc.stderr):
            assert CANARY_KEY not in output
            assert CANARY_KEY[9:] not in output
            assert CANARY_KEY[-20:] not in output


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\r=1", "'=1"),
        ("\x1b[31mred\x1b[0m fox", "red fox"),
        ("\x1b]8;;http://evil.example\x07link\x1b]8;;\x07", "link"),
        ("a red fox", "a red fox"),
        (None, ""),
        (42, 42),
    ],
)
def test_csv_cells_are_neutralised(value: object, cell: object) -> None:
    from flux_cli.textsafe import csv_safe

    assert csv_safe(value) == cell
