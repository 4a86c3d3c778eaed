"""`flux2 auth login | logout | status`: store, remove and inspect the OpenRouter API key.

The key is read from a hidden prompt on a terminal or from stdin otherwise, never from the command
line (it would leak into `ps` and shell history), and is only ever shown masked (`sk-or-v1-…abcd`).
Which key wins is `config.resolve_key`'s rule: OPENROUTER_API_KEY > OPENROUTER_API_KEY_FILE >
the stored key file; `status` says which one did and what it shadows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux_cli.cli.boundary import guarded

if TYPE_CHECKING:
    from pathlib import Path

    from flux_cli.cli.context import App
    from flux_cli.credentials import ApiKey
    from flux_cli.openrouter.account import KeyInfo

# A real key is about 73 characters; anything much longer on stdin is not a key.
MAX_KEY_CHARS = 1024

auth_app = typer.Typer(
    name="auth",
    help=(
        "Store, remove and inspect the OpenRouter API key. The key is read from a hidden prompt "
        "or stdin, never from the command line."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
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
    run_login(ctx.obj, check=not no_check, sandbox=sandbox)


def logout(ctx: typer.Context) -> None:
    """Delete the stored key file. Keys set in the environment are not touched."""
    run_logout(ctx.obj)


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
    run_status(ctx.obj, json_output=json_output, check=not no_check, sandbox=sandbox)


auth_app.command(
    name="login", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(guarded(login))
auth_app.command(name="logout")(guarded(logout))
auth_app.command(name="status")(guarded(status))


# -- login -------------------------------------------------------------------------------------


def run_login(app: App, *, check: bool, sandbox: bool) -> None:
    from flux_cli import keystore
    from flux_cli.credentials import KEYS_URL, ApiKey, normalise_key, resolve_base_url
    from flux_cli.errors import ConfigError
    from flux_cli.openrouter.errors import AuthenticationError, OpenRouterError

    base_url = None if sandbox or not check else resolve_base_url()  # a bad URL fails first
    raw, where = _read_key(app)
    key = ApiKey(normalise_key(raw, where), where)
    if not key.value.startswith("sk-or-"):
        app.warn("the key does not start with sk-or-, as OpenRouter keys do")
    info: KeyInfo | None = None
    if check:
        try:
            info = _key_info(key, base_url)
        except AuthenticationError as exc:
            said = exc.message.replace("OpenRouter", "the sandbox") if sandbox else exc.message
            raise ConfigError(
                f"the key was not stored: {said}",
                hint=f"copy the key again from {KEYS_URL} (--no-check stores it without asking)",
            ) from None
        except OpenRouterError as exc:
            app.warn(f"could not check the key ({exc.message}); storing it anyway")
    path, replaced = keystore.store_key(key.value)
    verb = "replaced the stored key with" if replaced else "stored"
    app.info(f"{verb} {key.masked} in {path} (readable only by you)")
    if info is not None:
        app.info(f"{'the sandbox' if sandbox else 'OpenRouter'} accepts it: {_summary(info)}")
    for name in _environment_keys():
        app.warn(f"{name} is set in this environment and wins over the stored key")


def _read_key(app: App) -> tuple[str, str]:
    """The raw key and where it came from. Without a terminal there is no prompt: the key is the
    first line of stdin, and an empty stdin is an error at once."""
    from flux_cli.credentials import KEYS_URL
    from flux_cli.errors import ConfigError

    if app.stdin_is_tty():
        import getpass
        import sys

        try:
            # getpass reads the terminal without echo, and Ctrl-C stays an interrupt (exit 130),
            # where typer.prompt would turn it into "Aborted!" and exit 1.
            raw = getpass.getpass("OpenRouter API key (input is hidden): ", stream=sys.stderr)
        except EOFError:
            raise ConfigError("no key was entered", hint=f"get a key at {KEYS_URL}") from None
        return raw, "the prompt"
    hint = "pipe the key in (flux2 auth login < key.txt) or run flux2 auth login in a terminal"
    stream = app.stdin
    try:
        line = stream.readline(MAX_KEY_CHARS + 1) if stream is not None else ""
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"cannot read the key from stdin: {exc}", hint=hint) from None
    if not line.strip():
        raise ConfigError("no key on stdin", hint=hint)
    if len(line.strip()) > MAX_KEY_CHARS:
        raise ConfigError("the first line of stdin is too long to be an API key", hint=hint)
    return line, "stdin"


# -- logout ------------------------------------------------------------------------------------


def run_logout(app: App) -> None:
    from flux_cli import keystore
    from flux_cli.credentials import stored_key_path

    path = stored_key_path()
    removed = keystore.remove_key()
    if removed is None:
        app.info(f"no stored key to remove (no {path})")
    elif removed == "link":
        app.info(f"removed the symbolic link {path} (the file it pointed to is untouched)")
    else:
        app.info(f"removed the stored key {path}")
    for note in _environment_keys():
        app.warn(f"{note} is still set in the environment; flux2 will keep using it")


# -- status ------------------------------------------------------------------------------------


def run_status(app: App, *, json_output: bool, check: bool, sandbox: bool) -> None:
    from flux_cli.credentials import resolve_key
    from flux_cli.endpoints import SANDBOX, current_api
    from flux_cli.errors import ConfigError, Flux2Error
    from flux_cli.openrouter.errors import AuthenticationError

    label, base_url = (SANDBOX, None) if sandbox else current_api()
    error: Flux2Error | None = None
    key: ApiKey | None = None
    info: KeyInfo | None = None
    try:
        key = resolve_key()
    except ConfigError as exc:
        error = exc
    if key is not None and check:
        try:
            info = _key_info(key, base_url)
        except AuthenticationError as exc:
            error = ConfigError(
                f"the key from {_source_text(key)} is refused: {exc.message}",
                hint=_fix_hint(key),
            )
        except Flux2Error as exc:
            error = exc
    notes = _shadowing(winner=key.source) if key is not None else []
    if json_output:
        app.display(_json(label, base_url, key, info, notes=notes, error=error))
    elif key is not None:
        _lines(app, label, base_url, key, info, check=check, refused=error is not None)
    for note in notes:
        app.warn(note)
    if error is not None:
        raise error


def _lines(
    app: App,
    label: str,
    base_url: str | None,
    key: ApiKey,
    info: KeyInfo | None,
    *,
    check: bool,
    refused: bool,
) -> None:
    from flux_cli.endpoints import SANDBOX, describe

    where = "in-process sandbox" if label == SANDBOX else describe(label)
    rows = [("key", key.masked), ("source", _source_text(key))]
    rows.append(
        ("api", where if base_url is None or where == base_url else f"{where} ({base_url})")
    )
    if info is not None:
        rows.append(("check", f"accepted: {_summary(info)}"))
    elif refused:
        rows.append(("check", "failed (see below)"))
    elif not check:
        rows.append(("check", "not checked (--no-check)"))
    for name, value in rows:
        app.display(f"{name:<7} {value}")


def _json(
    label: str,
    base_url: str | None,
    key: ApiKey | None,
    info: KeyInfo | None,
    *,
    notes: list[str],
    error: Exception | None,
) -> str:
    import json

    from flux_cli.redact import redact

    record: dict[str, Any] = {
        "ok": error is None,
        "source": key.source if key else None,
        "path": str(path) if key and (path := _source_path(key)) else None,
        "masked": key.masked if key else None,
        "api": label,
        "base_url": base_url,
        "checked": info is not None,
        "key": _info_record(info) if info is not None else None,
        "notes": notes,
        "error": redact(str(error)) if error is not None else None,
    }
    return json.dumps(record, ensure_ascii=False)


def _info_record(info: KeyInfo) -> dict[str, Any]:
    from flux_cli.pricing import micros_to_usd

    def usd(micros: int | None) -> float | None:
        return None if micros is None else float(micros_to_usd(micros))

    return {
        "label": _label(info),
        "limit_usd": usd(info.limit_micros),
        "limit_remaining_usd": usd(info.limit_remaining_micros),
        "limit_reset": info.limit_reset,
        "usage_daily_usd": usd(info.usage_daily_micros),
        "usage_usd": usd(info.usage_micros),
        "is_free_tier": info.is_free_tier,
    }


# -- shared ------------------------------------------------------------------------------------


def _key_info(key: ApiKey, base_url: str | None) -> KeyInfo:
    """GET /key at `base_url`, or at an in-process sandbox when it is None."""
    from flux_cli.openrouter import account
    from flux_cli.openrouter.client import OpenRouterClient, Timeouts

    if base_url is None:
        from flux_cli.sandbox import Sandbox, SandboxConfig

        with Sandbox(SandboxConfig(port=0)) as sb:
            return _key_info(key, sb.base_url)
    timeouts = Timeouts(connect=5.0, read=20.0, attempt=30.0)
    with OpenRouterClient(base_url, key, timeouts=timeouts, max_retries=1) as client:
        return account.key_info(client)


def _label(info: KeyInfo) -> str | None:
    return info.user_label


def _summary(info: KeyInfo) -> str:
    from flux_cli.pricing import format_usd

    parts = []
    if (name := _label(info)) is not None:
        parts.append(f"label {name!r}")
    if info.limit_micros is None:
        parts.append("no limit")
    else:
        reset = f" {info.limit_reset}" if info.limit_reset else ""
        parts.append(f"limit {format_usd(info.limit_micros)}{reset}")
        if info.limit_remaining_micros is not None:
            parts.append(f"{format_usd(info.limit_remaining_micros)} left")
    if info.usage_daily_micros is not None:
        parts.append(f"usage today {format_usd(info.usage_daily_micros)}")
    return ", ".join(parts)


def _source_path(key: ApiKey) -> Path | None:
    import os
    from pathlib import Path

    from flux_cli.credentials import KEY_FILE_ENV, stored_key_path

    if key.source == KEY_FILE_ENV:
        return Path(os.environ.get(KEY_FILE_ENV, "").strip()).expanduser()
    if key.source == "key file":
        return stored_key_path()
    return None


def _source_text(key: ApiKey) -> str:
    from flux_cli.credentials import KEY_ENV, KEY_FILE_ENV

    if key.source == KEY_ENV:
        return f"the environment variable {KEY_ENV}"
    if key.source == KEY_FILE_ENV:
        return f"{KEY_FILE_ENV} ({_source_path(key)})"
    return f"the stored key file {_source_path(key)}"


def _fix_hint(key: ApiKey) -> str:
    from flux_cli.credentials import KEY_ENV, KEY_FILE_ENV, KEYS_URL

    if key.source == KEY_ENV:
        return f"set {KEY_ENV} to a working key from {KEYS_URL}, or unset it"
    if key.source == KEY_FILE_ENV:
        return f"put a working key from {KEYS_URL} in {_source_path(key)}"
    return f"store a working key from {KEYS_URL} with: flux2 auth login"


def _environment_keys() -> list[str]:
    """The key variables set (non-empty) in the environment, in order of precedence."""
    import os

    from flux_cli.credentials import KEY_ENV, KEY_FILE_ENV

    return [name for name in (KEY_ENV, KEY_FILE_ENV) if os.environ.get(name, "").strip()]


def _shadowing(winner: str) -> list[str]:
    """Notes on the keys that `winner` (an ApiKey.source) hides from use."""
    from flux_cli.credentials import read_stored_key, stored_key_path
    from flux_cli.errors import ConfigError

    if winner == "key file":  # the last in line: it hides nothing
        return []
    notes = [
        f"{name} is set too, but {winner} wins" for name in _environment_keys() if name != winner
    ]
    path = stored_key_path()
    try:
        read_stored_key(path)
    except FileNotFoundError:
        return notes
    except ConfigError as exc:  # unsafe: say so now, before it is ever needed
        fix = f" (fix: {exc.hint})" if exc.hint else ""
        notes.append(f"the stored key file is not used while {winner} is set; {exc.message}{fix}")
        return notes
    notes.append(f"the stored key file {path} is not used while {winner} is set")
    return notes
