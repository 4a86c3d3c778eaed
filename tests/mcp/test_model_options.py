"""Model options through `flux2 mcp`: make_image and edit_image take steps, guidance,
safety_tolerance and prompt_upsampling, send them as `provider.options["black-forest-labs"]` only
where the model's endpoint allows them, refuse them before sending where it does not, and keep
them in the call's ledger row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from flux_cli.ledger import Ledger
from tests.mcp.conftest import Server, run

pytestmark = pytest.mark.e2e

OPTIONS = {"steps": 20, "guidance": 3.5, "safety_tolerance": 4, "prompt_upsampling": True}


def _rows() -> list[Any]:
    with Ledger.open() as ledger:
        return ledger.rows("sandbox")


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def test_make_image_sends_the_options_and_the_ledger_keeps_them(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, list[dict[str, Any]]]:
        result = await server.call("make_image", {"prompt": "a fox", "model": "flex", **OPTIONS})
        return result, server.image_requests()

    result, requests = run(tmp_path, body)
    assert not result.is_error, _text(result)
    (request,) = requests
    assert request["body"]["provider"] == {"options": {"black-forest-labs": OPTIONS}}
    (row,) = _rows()
    assert (row.command, row.status) == ("mcp", "ok")
    assert row.model_options is not None
    assert json.loads(row.model_options) == OPTIONS


def test_edit_image_takes_them_too(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, list[dict[str, Any]]]:
        reference = server.refs / "cat.png"
        Image.new("RGB", (640, 480), (200, 40, 40)).save(reference, "PNG")
        result = await server.call(
            "edit_image",
            {"prompt": "at night", "model": "flex", "references": [str(reference)], "steps": 12},
        )
        return result, server.image_requests()

    result, requests = run(tmp_path, body)
    assert not result.is_error, _text(result)
    (request,) = requests
    assert request["body"]["provider"] == {"options": {"black-forest-labs": {"steps": 12}}}
    (row,) = _rows()
    assert json.loads(row.model_options) == {"steps": 12}


def test_an_option_the_endpoint_does_not_allow_is_refused_before_sending(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, list[dict[str, Any]]]:
        result = await server.call(
            "make_image", {"prompt": "a fox", "model": "klein", "guidance": 3}
        )
        return result, server.image_requests()

    result, requests = run(tmp_path, body)
    assert result.is_error
    assert "does not take --guidance" in _text(result)
    assert requests == []
    assert _rows() == []


def test_an_option_out_of_range_is_refused_before_sending(tmp_path: Path) -> None:
    async def body(server: Server) -> tuple[Any, list[dict[str, Any]]]:
        result = await server.call("make_image", {"prompt": "a fox", "model": "flex", "steps": 0})
        return result, server.image_requests()

    result, requests = run(tmp_path, body)
    assert result.is_error
    assert "steps" in _text(result)
    assert requests == []
    assert _rows() == []
