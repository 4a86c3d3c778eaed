"""`flux2 sandbox`: run the local OpenRouter stand-in in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer


def sandbox(
    port: Annotated[
        int,
        typer.Option(
            "--port",
            "-p",
            metavar="N",
            help="Port on 127.0.0.1; 0 picks a free one.",
            min=0,
            max=65535,
        ),
    ] = 8788,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="KEY",
            help="Accept only this API key (default: any well-formed sk-or-v1- key).",
            show_default=False,
        ),
    ] = None,
    latency: Annotated[
        float,
        typer.Option(
            "--latency",
            metavar="SECONDS",
            help="Seconds each generation takes, from the request's arrival to the answer.",
            min=0.0,
        ),
    ] = 0.0,
    balance: Annotated[
        str, typer.Option("--balance", metavar="USD", help="Starting credit balance in USD.")
    ] = "10.00",
    fail: Annotated[
        list[str] | None,
        typer.Option(
            "--fail",
            metavar="SPEC",
            help="Inject a fault, e.g. images:429:retry-after=2 or chat:drop-after-headers:times=2 "
            "(repeatable; see README 'Sandbox').",
            show_default=False,
        ),
    ] = None,
    generation_delay: Annotated[
        float,
        typer.Option(
            "--generation-delay",
            metavar="SECONDS",
            help="Seconds before /generation knows a new id (the real API: minutes).",
            min=0.0,
        ),
    ] = 5.0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not log requests on stderr.")
    ] = False,
    size_passthrough: Annotated[
        bool,
        typer.Option(
            "--size-passthrough/--no-size-passthrough",
            help="Offer width/height as black-forest-labs passthrough options (unconfirmed on "
            "the real API); --no-size-passthrough rehearses the aspect-ratio fallback.",
        ),
    ] = True,
) -> None:
    """Run a local OpenRouter-compatible server for rehearsals and tests (no key, no money).

    Prints the base URL on stdout and ready-to-paste export lines on stderr; Ctrl-C stops it.
    """
    from flux_cli.sandbox.foreground import serve

    serve(
        port=port,
        key=key,
        latency=latency,
        balance=balance,
        fail=fail or [],
        generation_delay=generation_delay,
        quiet=quiet,
        size_passthrough=size_passthrough,
    )
