"""The application object: tests replace its settings, its endpoint and its client factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flux_cli.cli.context import App, Endpoint
from flux_cli.cli.run import GenerateOptions, run_command
from flux_cli.config import Settings
from flux_cli.credentials import ApiKey
from flux_cli.ledger import Ledger
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig


def _options(output: Path, **changes: Any) -> GenerateOptions:
    values: dict[str, Any] = {
        "prompt": "a red fox",
        "prompt_file": None,
        "model": "pro",
        "aspect_ratio": None,
        "size": None,
        "seed": 7,
        "image_format": None,
        "count": 1,
        "output": str(output),
        "force": False,
        "max_cost": None,
        "dry_run": False,
        "json_lines": False,
        "quiet": True,
        "route": "images",
        "timeout": 30.0,
        "retries": 0,
        "retry_ambiguous": False,
        "sandbox": False,
    }
    return GenerateOptions(**{**values, **changes})


def test_settings_endpoint_and_client_factory_come_from_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[tuple[str, int]] = []
    with Sandbox(SandboxConfig(port=0)) as sandbox:
        base_url = sandbox.base_url

        def factory(base_url: str, key: ApiKey, **options: Any) -> OpenRouterClient:
            made.append((base_url, options["lanes"]))
            return OpenRouterClient(base_url, key, **options)

        app = App(
            resolve_endpoint=lambda: Endpoint("rehearsal", base_url, ApiKey(SANDBOX_KEY, "a test")),
            client_factory=factory,
        )
        app.settings = Settings(model="klein")  # the config file is never read
        run_command(
            app,
            opts=_options(tmp_path / "fox.png"),
            batch=None,
            concurrency=4,
            lock=None,
            explicit=frozenset({"prompt", "output", "seed"}),
        )
    assert made == [(base_url, 1)]
    assert capsys.readouterr().out == f"{tmp_path / 'fox.png'}\n"
    with Ledger.open() as ledger:
        (row,) = ledger.rows("rehearsal")
    assert (row.status, row.model, row.seed) == ("ok", "black-forest-labs/flux.2-klein-4b", 7)


def test_a_sandbox_run_never_resolves_the_real_endpoint(tmp_path: Path) -> None:
    def no_real_endpoint() -> Endpoint:
        raise AssertionError("the real endpoint was looked up")

    app = App(resolve_endpoint=no_real_endpoint)
    app.settings = Settings()
    run_command(
        app,
        opts=_options(tmp_path / "fox.jpg", sandbox=True),
        batch=None,
        concurrency=4,
        lock=None,
    )
    assert (tmp_path / "fox.jpg").is_file()
    assert app.uses_built_in_sandbox
    with Ledger.open() as ledger:
        assert [row.status for row in ledger.rows("sandbox")] == ["ok"]


def test_a_table_for_a_reader_that_has_gone_closes_stdout_and_the_run_goes_on() -> None:
    import io

    from rich.console import Console

    class Gone(Console):
        def print(self, *objects: Any, **options: Any) -> None:
            raise BrokenPipeError

    app = App(_out=Gone(file=io.StringIO()))
    app.show("a table")
    assert app.stdout_closed
    shown = io.StringIO()
    App(_out=Console(file=shown)).show("a table")
    assert shown.getvalue() == "a table\n"


def test_a_json_record_is_one_line_of_data_with_its_text_as_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    App().display_json({"prompt": "un renard «roux»", "usd": 0.03, "none": None})
    out, err = capsys.readouterr()
    assert out == '{"prompt": "un renard «roux»", "usd": 0.03, "none": null}\n'
    assert err == ""
