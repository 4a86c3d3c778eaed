"""`flux2 mcp` end to end: the SDK's client, the installed command, its in-process sandbox."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from flux_cli.ledger import Ledger
from flux_cli.sandbox import Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import flux2_command
from tests.mcp.conftest import Server, run, server_env, serving

pytestmark = pytest.mark.e2e

TOOLS = {"make_image", "edit_image", "estimate_cost", "list_models", "spending", "balance"}


def _rows() -> list[Any]:
    with Ledger.open() as ledger:
        return ledger.rows("sandbox")


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def _png(path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    Image.new("RGB", size, (200, 40, 40)).save(path, "PNG")
    return path


def test_lists_its_tools_with_descriptions(tmp_path: Path) -> None:
    async def body(server: Server) -> Any:
        return (await server.client.list_tools()).tools

    tools = run(tmp_path, body)
    assert {t.name for t in tools} == TOOLS
    for tool in tools:
        assert tool.description
    make = next(t for t in tools if t.name == "make_image")
    assert make.input_schema["required"] == ["prompt"]


def test_make_image_writes_the_file_returns_a_thumbnail_and_a_ledger_row(tmp_path: Path) -> None:
    async def body(server: Server) -> Any:
        return await server.call("make_image", {"prompt": "a red fox", "seed": 7})

    result = run(tmp_path, body)
    assert not result.is_error, _text(result)
    data = result.structured_content
    (image,) = data["images"]
    path = Path(image["path"])
    assert path.parent == (tmp_path / "out").resolve()
    assert path.name.endswith("-pro-7-a-red-fox.jpg")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == image["sha256"]
    assert (image["estimate_usd"], image["charged_usd"]) == (0.03, 0.03)
    assert image["generation_id"].startswith("gen-")
    assert data["charged_usd"] == 0.03
    thumbs = [block for block in result.content if block.type == "image"]
    assert len(thumbs) == 1
    assert thumbs[0].mime_type == "image/jpeg"
    with Image.open(io.BytesIO(base64.b64decode(thumbs[0].data))) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 256
    assert str(path) in _text(result)
    (row,) = _rows()
    assert (row.command, row.status, row.charged_micros, row.seed) == ("mcp", "ok", 30_000, 7)
    assert row.paths == (str(path),)
    assert row.generation_id == image["generation_id"]


def test_names_follow_the_template_and_never_overwrite(tmp_path: Path) -> None:
    async def body(server: Server) -> list[Any]:
        return [
            await server.call("make_image", {"prompt": "fox", "filename": "fox.png"})
            for _ in range(2)
        ]

    first, second = run(tmp_path, body)
    paths = [r.structured_content["images"][0]["path"] for r in (first, second)]
    assert [Path(p).name for p in paths] == ["fox.png", "fox-1.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG"


def test_edit_image_reads_an_allowed_reference(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, list[dict[str, Any]]]:
        reference = _png(server.refs / "cat.png")
        result = await server.call(
            "edit_image", {"prompt": "make it night", "references": [str(reference)]}
        )
        return result, server.image_requests()

    result, requests = run(tmp_path, body)
    assert not result.is_error, _text(result)
    (image,) = result.structured_content["images"]
    assert Path(image["path"]).exists()
    assert image["estimate_usd"] == 0.045  # 1 MP out at $0.03, one reference MP at $0.015
    assert len(requests) == 1
    assert len(requests[0]["body"]["input_references"]) == 1
    (row,) = _rows()
    assert (row.command, row.status, row.reference_count) == ("mcp", "ok", 1)


def test_paths_outside_the_allowed_directories_are_tool_errors(tmp_path: Path) -> None:
    secret = _png(tmp_path / "secret.png")

    async def body(server: Server) -> tuple[list[Any], list[dict[str, Any]]]:
        link = server.refs / "link.png"
        link.symlink_to(secret)
        results = [
            await server.call("edit_image", {"prompt": "x", "references": [str(secret)]}),
            await server.call("edit_image", {"prompt": "x", "references": [str(link)]}),
            await server.call(
                "edit_image", {"prompt": "x", "references": [f"{server.refs}/../secret.png"]}
            ),
            await server.call("edit_image", {"prompt": "x", "references": ["-"]}),
            await server.call("make_image", {"prompt": "x", "filename": "../escape.jpg"}),
            await server.call("make_image", {"prompt": "-"}),
        ]
        return results, server.image_requests()

    results, requests = run(tmp_path, body)
    for result in results:
        assert result.is_error
    for result in results[:3]:
        assert "outside the directories this server may read" in _text(result)
        assert result.structured_content["error"] == "path"
        assert result.structured_content["sent"] is False
    assert "single name without directories" in _text(results[4])
    assert requests == []
    assert _rows() == []
    assert not (tmp_path / "escape.jpg").exists()


def test_a_budget_refusal_says_what_is_left_and_when_it_resets(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, Any, int]:
        first = await server.call("make_image", {"prompt": "fox"})
        second = await server.call("make_image", {"prompt": "fox"})
        return first, second, len(server.generations())

    first, second, billed = run(tmp_path, body, env={"FLUX2_BUDGET_DAILY_USD": "0.05"})
    assert not first.is_error
    assert second.is_error
    text = _text(second)
    assert "refused by the daily budget, nothing was sent" in text
    assert "$0.02 of $0.05 is left today" in text
    assert "resets at" in text
    assert "Do not retry" in text
    data = second.structured_content
    assert (data["error"], data["budget"], data["left_usd"], data["sent"]) == (
        "budget",
        "daily",
        0.02,
        False,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00[+-]\d\d:\d\d", data["resets_at"])
    assert billed == 1
    statuses = sorted((r.command, r.status, r.exit_code) for r in _rows())
    assert statuses == [("mcp", "failed", 7), ("mcp", "ok", 0)]


def test_the_per_call_ceiling_refuses_before_sending(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, Any, Any, Any, int]:
        over = await server.call("make_image", {"prompt": "foxes", "count": 2})
        estimate = await server.call("estimate_cost", {"count": 2})
        under = await server.call("make_image", {"prompt": "fox"})
        own = await server.call("make_image", {"prompt": "fox", "max_cost_usd": "0.01"})
        return over, estimate, under, own, len(server.image_requests())

    over, estimate, under, own, sent = run(tmp_path, body, "--max-cost-per-call", "0.05")
    assert over.is_error
    assert "more than the server's per-call ceiling $0.05" in _text(over)
    assert over.structured_content["error"] == "ceiling"
    assert over.structured_content["estimate_usd"] == 0.06
    assert estimate.structured_content["total_usd"] == 0.06
    assert estimate.structured_content["allowed"] is False
    assert not under.is_error
    assert own.is_error
    assert "more than max_cost_usd $0.01" in _text(own)
    assert sent == 1
    assert [r.status for r in _rows()] == ["ok"]


def test_an_unknown_outcome_is_reported_as_maybe_billed_and_not_retried(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, int]:
        server.push_fault("images:500")
        result = await server.call("make_image", {"prompt": "fox"})
        return result, len(server.image_requests())

    result, sent = run(tmp_path, body)
    assert result.is_error
    text = _text(result)
    assert "MAY HAVE BEEN BILLED" in text
    assert "not retried" in text
    assert result.structured_content["may_have_been_billed"] is True
    assert result.structured_content["error"] == "outcome_unknown"
    assert sent == 1
    (row,) = _rows()
    assert (row.command, row.status) == ("mcp", "unknown")


def test_eight_calls_at_once_under_a_budget_for_five_bill_exactly_five(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[list[Any], int]:
        # Each answer takes a second: the calls let through are out at once, and the budget
        # has to count the ones still waiting for their answer.
        server.push_fault("images:slow:delay=1:times=always", rule=True)
        results = await asyncio.gather(
            *(server.call("make_image", {"prompt": f"fox {i}", "seed": i}) for i in range(8))
        )
        return list(results), len(server.generations())

    results, billed = run(tmp_path, body, env={"FLUX2_BUDGET_DAILY_USD": "0.15"})
    made = [r for r in results if not r.is_error]
    refused = [r for r in results if r.is_error]
    assert len(made) == 5
    assert len(refused) == 3
    assert all(r.structured_content["error"] == "budget" for r in refused)
    assert billed == 5
    assert len(list((tmp_path / "out").iterdir())) == 5
    rows = _rows()
    assert sorted(r.status for r in rows) == ["failed"] * 3 + ["ok"] * 5
    assert sum(r.charged_micros or 0 for r in rows) == 150_000


def test_free_tools_price_list_and_account(tmp_path: Path) -> None:
    async def body(server: Server) -> dict[str, Any]:
        await server.call("make_image", {"prompt": "fox"})
        return {
            name: (await server.call(name, args)).structured_content
            for name, args in (
                ("estimate_cost", {"model": "max", "size": "2048x2048"}),
                ("list_models", {}),
                ("spending", {}),
                ("balance", {}),
            )
        }

    got = run(tmp_path, body, env={"FLUX2_BUDGET_MONTHLY_USD": "3.00"})
    assert got["estimate_cost"]["total_usd"] == 0.16  # $0.07 + 3 further MP at $0.03
    assert got["estimate_cost"]["allowed"] is True
    pro = next(m for m in got["list_models"]["models"] if m["alias"] == "pro")
    assert (pro["first_mp_usd"], pro["max_references"]) == (0.03, 8)
    spending = got["spending"]
    assert (spending["spent_today_usd"], spending["spent_this_month_usd"]) == (0.03, 0.03)
    assert spending["daily"] is None
    assert spending["monthly"]["left_usd"] == 2.97
    assert spending["by_model_this_month"][0]["model"] == "black-forest-labs/flux.2-pro"
    assert got["balance"]["credits"]["remaining_usd"] == 9.97  # the session's own sandbox
    assert got["balance"]["budget"]["monthly"]["limit_usd"] == 3.0


def _start(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*flux2_command(), "mcp", *args],
        input="",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_refuses_to_start_without_a_budget_unless_told(tmp_path: Path) -> None:
    proc = _start(tmp_path, "--sandbox", env=server_env())
    assert proc.returncode == 7
    assert "will not serve an agent without a daily or monthly budget" in proc.stderr
    assert "--no-budget" in proc.stderr
    assert proc.stdout == ""

    async def body(server: Server) -> Any:
        return await server.call("make_image", {"prompt": "fox"})

    result = run(tmp_path, body, "--no-budget", env={})
    assert not result.is_error, _text(result)


def test_refuses_to_start_without_a_key_for_the_real_api(tmp_path: Path) -> None:
    proc = _start(tmp_path, env=server_env(FLUX2_BUDGET_DAILY_USD="1"))
    assert proc.returncode == 4
    assert proc.stdout == ""


def _readme_snippet() -> dict[str, Any]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Agents (MCP)", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block, "the README's MCP section has no JSON configuration snippet"
    config = json.loads(block.group(1))
    (entry,) = config["mcpServers"].values()
    return dict(entry)


def test_the_readme_snippet_starts_a_server_that_makes_an_image(tmp_path: Path) -> None:
    entry = _readme_snippet()
    assert entry["command"] == "flux2"
    args = list(entry["args"])
    assert args[:2] == ["mcp", "--sandbox"]
    # The snippet's directories are the reader's; here they become temporary ones.
    places: dict[str, Path] = {}
    for i, arg in enumerate(args):
        if args[i - 1] in {"--output-dir", "--allow-read"}:
            places.setdefault(arg, tmp_path / f"dir{len(places)}").mkdir(exist_ok=True)
            args[i] = str(places[arg])
    env = server_env(**entry.get("env", {}))
    assert env.get("FLUX2_BUDGET_DAILY_USD") or env.get("FLUX2_BUDGET_MONTHLY_USD")

    async def main() -> Any:
        command = [*flux2_command(), *args]
        async with serving(tmp_path, env=env, command=command) as server:
            return await server.call("make_image", {"prompt": "a lighthouse"})

    result = asyncio.run(main())
    assert not result.is_error, _text(result)
    written = Path(result.structured_content["images"][0]["path"])
    assert written.exists()
    assert written.parent in {p.resolve() for p in places.values()}
    assert os.path.getsize(written) > 1000


def test_serves_the_real_api_with_the_key_from_the_environment(tmp_path: Path) -> None:
    """Without --sandbox: the API of FLUX2_BASE_URL (here a sandbox in this process) and the
    user's key, which never shows in a result or the log."""

    async def main(base_url: str) -> Any:
        env = {
            "FLUX2_BASE_URL": base_url,
            "OPENROUTER_API_KEY": CANARY_KEY,
            "FLUX2_BUDGET_DAILY_USD": "1.00",
        }
        async with serving(tmp_path, env=env, sandbox=False) as server:
            made = await server.call("make_image", {"prompt": "fox"})
            balance = await server.call("balance", {})
            return made, balance, server.log.read_text()

    with Sandbox(SandboxConfig(port=0)) as sandbox:
        base_url = sandbox.base_url
        made, balance, log = asyncio.run(main(base_url))
        billed = len(sandbox.generations)
    assert not made.is_error, _text(made)
    assert billed == 1
    with Ledger.open() as ledger:
        (row,) = ledger.rows(base_url)
    assert (row.command, row.status) == ("mcp", "ok")
    everything = log + _text(made) + _text(balance) + json.dumps(balance.structured_content)
    assert CANARY_KEY not in everything
    assert CANARY_KEY[9:] not in everything
    assert balance.structured_content["key"]["masked"].endswith(CANARY_KEY[-4:])


def test_without_the_sdk_it_says_how_to_install_it(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.modules['mcp'] = None  # as if the extra were not installed\n"
        "from flux_cli.cli.main import run\nrun(['mcp', '--sandbox'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=server_env(FLUX2_BUDGET_DAILY_USD="1"),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "flux2 mcp needs the MCP SDK" in proc.stderr
    assert "pip install 'flux2-cli[mcp]'" in proc.stderr
