"""`flux2 auth login | logout | status`: store, remove and inspect the OpenRouter API key.

The key is read from a hidden prompt on a terminal or from stdin otherwise, never from the command
line (it would leak into `ps` and shell history), and is only ever shown masked (`sk-or-v1-…abcd`).
Which key wins is `credentials.resolve_key`'s rule: OPENROUTER_API_KEY > OPENROUTER_API_KEY_FILE >
the stored key file; `status` says which one did and what it shadows. What is known about the key
is `flux_cli.key_status`'s, storing it `flux_cli.keystore`'s; the client that asks OpenRouter
comes from the app's client factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from flux_cli.cli.boundary import guarded
from flux_cli.cli.groups import command_group

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.openrouter.account import KeyInfo

auth_app = command_group(
    "auth",
    "Store, remove and inspect the OpenRouter API key. The key is read from a hidden prompt "
    "or stdin, never from the command line.",
)

NoCheckOption = Annotated[
    bool,
    typer.Option("--no-check", help="Do not ask OpenRouter about the key (GET /key)."),
]
SandboxOption = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="Check the key against a built-in local stand-in for OpenRouter: no network.",
    ),
]


def login(
    ctx: typer.Context,
    no_check: NoCheckOption = False,
    sandbox: SandboxOption = False,
) -> None:
    """Store the OpenRouter API key in the key file, readable only by you (0600).

    On a terminal the key is asked for without echo; otherwise it is the first line of stdin
    (flux2 auth login < key.txt). Before it is stored, OpenRouter is asked whether it works
    (GET /key): a key it refuses is not stored (exit 4); when OpenRouter cannot be reached the
    key is stored with a warning.
    """
    if ctx.args:
        # Anything else on the command line may be the key itself: refuse it here, where it is
        # not echoed back the way a usage error echoes an unexpected argument.
        from flux_cli.errors import UsageError

        raise UsageError(
            "flux2 auth login takes no key on the command line (ps and the shell history show it)",
            hint="pipe it in: flux2 auth login < key.txt; or run flux2 auth login in a terminal",
        )
    from flux_cli import key_status, keystore
    from flux_cli.credentials import ApiKey, normalise_key, resolve_base_url
    from flux_cli.openrouter.errors import AuthenticationError, OpenRouterError

    app: App = ctx.obj
    check = not no_check
    base_url = None if sandbox or not check else resolve_base_url()  # a bad URL fails first
    raw, where = key_status.read_key(app.stdin, terminal=app.stdin_is_tty())
    key = ApiKey(normalise_key(raw, where), where)
    if not key.value.startswith("sk-or-"):
        app.warn("the key does not start with sk-or-, as OpenRouter keys do")
    info: KeyInfo | None = None
    if check:
        try:
            info = key_status.check_key(app.client_factory, key, base_url)
        except AuthenticationError as exc:
            raise key_status.not_stored(exc, sandbox=sandbox) from None
        except OpenRouterError as exc:
            app.warn(f"could not check the key ({exc.message}); storing it anyway")
    path, replaced = keystore.store_key(key.value)
    verb = "replaced the stored key with" if replaced else "stored"
    app.info(f"{verb} {key.masked} in {path} (readable only by you)")
    if info is not None:
        server = "the sandbox" if sandbox else "OpenRouter"
        app.info(f"{server} accepts it: {key_status.key_summary(info)}")
    for name in key_status.environment_keys():
        app.warn(f"{name} is set in this environment and wins over the stored key")


def logout(ctx: typer.Context) -> None:
    """Delete the stored key file. Keys set in the environment are not touched."""
    from flux_cli import keystore
    from flux_cli.credentials import stored_key_path
    from flux_cli.key_status import environment_keys

    app: App = ctx.obj
    path = stored_key_path()
    removed = keystore.remove_key()
    if removed is None:
        app.info(f"no stored key to remove (no {path})")
    elif removed == "link":
        app.info(f"removed the symbolic link {path} (the file it pointed to is untouched)")
    else:
        app.info(f"removed the stored key {path}")
    for note in environment_keys():
        app.warn(f"{note} is still set in the environment; flux2 will keep using it")


def status(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    no_check: NoCheckOption = False,
    sandbox: SandboxOption = False,
) -> None:
    """Show which API key flux2 uses, where it comes from, and whether OpenRouter accepts it.

    The key is shown masked. Exit 4 when there is no usable key (none, an unsafe key file) or
    OpenRouter refuses it.
    """
    from flux_cli.endpoints import SANDBOX, current_api
    from flux_cli.key_status import read_status

    app: App = ctx.obj
    label, base_url = (SANDBOX, None) if sandbox else current_api()
    status = read_status(app.client_factory, label, base_url, check=not no_check)
    if json_output:
        app.display_json(status.record())
    elif status.key is not None:
        for name, value in status.lines():
            app.display(f"{name:<7} {value}")
    for note in status.notes:
        app.warn(note)
    if status.error is not None:
        raise status.error


auth_app.command(
    name="login", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(guarded(login))
auth_app.command(name="logout")(guarded(logout))
auth_app.command(name="status")(guarded(status))
