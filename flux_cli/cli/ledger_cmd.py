"""`flux2 ledger migrate`: move a machine's local ledger into the team's shared one."""

from __future__ import annotations

from typing import Annotated

import typer

from flux_cli.cli.boundary import guarded
from flux_cli.cli.groups import command_group

ledger_app = command_group(
    "ledger",
    "Manage the spending ledger: copy this machine's local rows into a shared database.",
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
    from flux_cli.ledger.transfer import migrate_local

    app = ctx.obj
    migration = migrate_local(to)
    done = migration.copied
    if done is None:
        app.info(f"nothing to copy: there is no local ledger at {migration.path}")
        return
    app.info(
        f"copied {done.copied} of {done.read} rows from {migration.path} to {migration.url.masked}"
        + (f"; {done.already} were there already" if done.already else "")
    )


ledger_app.command(name="migrate")(guarded(migrate))
