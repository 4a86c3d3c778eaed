"""`flux2 ledger migrate`: move a machine's local ledger into the team's shared one."""

from __future__ import annotations

from typing import Annotated

import typer

from flux_cli.cli.boundary import guarded

ledger_app = typer.Typer(
    name="ledger",
    help="Manage the spending ledger: copy this machine's local rows into a shared database.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def migrate(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="URL",
            help="The shared ledger, postgresql://USER@HOST/DB (default: ledger.url). Keep the "
            "password in ~/.pgpass: a command line is visible to other users.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Copy every row of this machine's local ledger into a PostgreSQL ledger, once.

    Running it again copies nothing twice (each row has its own id). The local file is kept.
    """
    from flux_cli.config import configured_ledger_url
    from flux_cli.errors import UsageError
    from flux_cli.ledger import Ledger, default_path
    from flux_cli.ledger.location import parse_ledger_url
    from flux_cli.ledger.transfer import copy_rows

    app = ctx.obj
    url = parse_ledger_url(to) if to is not None else configured_ledger_url()
    if url is None:
        raise UsageError(
            "no shared ledger to copy into",
            hint="give --to postgresql://USER@HOST/DB, or set ledger.url in the config",
        )
    path = default_path()
    if not path.exists():
        app.info(f"nothing to copy: there is no local ledger at {path}")
        return
    with Ledger.open(path) as source, Ledger.open(url=url) as target:
        done = copy_rows(source, target)
    app.info(
        f"copied {done.copied} of {done.read} rows from {path} to {url.masked}"
        + (f"; {done.already} were there already" if done.already else "")
    )


ledger_app.command(name="migrate")(guarded(migrate))
