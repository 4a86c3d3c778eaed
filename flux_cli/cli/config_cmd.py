"""`flux2 config show | get | set | unset | path`: the settings file (config.toml).

Precedence is flag > environment > file > default; `show` says where each value came from. The
keys, their types and their variables are declared once, in `flux_cli.config.SCHEMA`. The API
key is never a setting (`flux2 auth login` stores it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from flux_cli.cli.boundary import guarded
from flux_cli.cli.groups import command_group

if TYPE_CHECKING:
    from flux_cli.cli.context import App

config_app = command_group(
    "config",
    "Show and change the settings in the config file (precedence: flag > environment > "
    "file > default). The API key is not a setting: see flux2 auth.",
)


def _complete_keys(incomplete: str) -> list[str]:
    from flux_cli.config_schema import KEYS

    return [key for key in KEYS if key.startswith(incomplete)]


def _complete_values(ctx: typer.Context, incomplete: str) -> list[str]:
    from flux_cli.config_schema import KEYS

    entry = KEYS.get(str(ctx.params.get("key") or ""))
    return [c for c in (entry.choices if entry else ()) if c.startswith(incomplete)]


KeyArgument = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="A setting such as model or budget.daily_usd.",
        autocompletion=_complete_keys,
        show_default=False,
    ),
]


def show(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout: path and every key.")
    ] = False,
) -> None:
    """List every setting with its effective value and where it came from.

    The source is `default`, `file PATH` or `env VARIABLE`. Unset values show as - (null in
    --json).
    """
    from flux_cli.config import config_path, load_values
    from flux_cli.config_report import settings_record, settings_rows

    values = load_values()
    if json_output:
        ctx.obj.display_json(settings_record(config_path(), values))
        return
    rows = settings_rows(values)
    key_width = max(len(row[0]) for row in rows)
    value_width = max(len(row[1]) for row in rows)
    for key, value, source in rows:
        ctx.obj.display(f"{key:<{key_width}}  {value:<{value_width}}  {source}")


def get(ctx: typer.Context, key: KeyArgument) -> None:
    """Print the effective value of one setting on stdout, bare (for $(flux2 config get KEY)).

    Prints an empty line when the setting is unset.
    """
    from flux_cli.config import display, effective

    value, _source = effective(key)
    ctx.obj.display(display(value))


def set_(
    ctx: typer.Context,
    key: KeyArgument,
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help="The new value; checked before anything is written.",
            autocompletion=_complete_values,
            show_default=False,
        ),
    ],
) -> None:
    """Set a setting in the config file, keeping the others.

    KEY is one of: model, aspect_ratio, format, output_dir, output_template, metadata, route,
    concurrency, budget.daily_usd, budget.monthly_usd, budget.timezone, mcp.max_cost_per_call_usd,
    history.store_prompts, preview.protocol, preview.tmux_passthrough, ledger.url (flux2 config
    show lists them with their values). A bad value is refused with the values that fit. The file
    is written atomically, readable only by you (0600, in a 0700 directory); its other lines and
    comments are kept as they are.
    """
    from flux_cli.config_edit import set_setting

    app: App = ctx.obj
    change = set_setting(key, value)
    app.info(f"set {change.key} = {change.shown} in {change.path}")
    _warn_if_env_wins(app, change.key)


def unset(ctx: typer.Context, key: KeyArgument) -> None:
    """Remove a setting from the config file, so the environment or the default applies."""
    from flux_cli.config_edit import unset_setting

    app: App = ctx.obj
    change = unset_setting(key)
    if not change.done:
        app.info(f"{change.key} is not set in {change.path}; nothing to do")
    else:
        app.info(
            f"removed {change.key} from {change.path}; it is now {change.shown} ({change.source})"
        )
    _warn_if_env_wins(app, change.key)


def path(ctx: typer.Context) -> None:
    """Print the config file's path on stdout (it may not exist yet)."""
    from flux_cli.config import config_path

    ctx.obj.display(str(config_path()))


def _warn_if_env_wins(app: App, key: str) -> None:
    from flux_cli.config_report import overriding_variable

    variable = overriding_variable(key)
    if variable is not None:
        app.warn(f"{variable} is set in the environment and wins over the file")


config_app.command(name="show")(guarded(show))
config_app.command(name="get")(guarded(get))
config_app.command(name="set")(guarded(set_))
config_app.command(name="unset")(guarded(unset))
config_app.command(name="path")(guarded(path))
