"""What an agent may do through `flux2 mcp`: the directories it may read and write, the ceiling
on one call, and how a refusal is worded so that the agent can tell its user instead of retrying.

Plain functions over paths and micro-dollars; no MCP, typer or rich here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flux_cli.errors import UsageError

__all__ = [
    "CEILING_KEY",
    "PathRefused",
    "Policy",
    "check_written",
    "next_resets",
    "output_spec",
    "readable_reference",
    "serving_policy",
]

#: The setting that gives the per-call ceiling when --max-cost-per-call does not.
CEILING_KEY = "mcp.max_cost_per_call_usd"


class PathRefused(UsageError):
    """A path the server was not allowed to read or write."""


@dataclass(frozen=True)
class Policy:
    """Fixed when the server starts; every tool call is checked against it."""

    output_dir: Path  # absolute, resolved: every image is written directly in it
    allow_read: tuple[Path, ...]  # absolute, resolved: references are read only below these
    max_cost_per_call_micros: int | None  # None: no ceiling (only with an explicit 0 or none)
    no_budget: bool  # started with --no-budget: calls go without a daily or monthly budget
    sandbox: bool  # the in-process sandbox: no key, no money

    @classmethod
    def create(
        cls,
        *,
        output_dir: Path,
        allow_read: list[Path],
        max_cost_per_call_micros: int | None,
        no_budget: bool,
        sandbox: bool,
    ) -> Policy:
        """Resolve the directories now, so a symlink swapped later cannot widen them."""
        try:  # made if missing, as generate makes an -o directory
            output_dir.expanduser().mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--output-dir {output_dir}: {exc.strerror}") from None
        out = output_dir.expanduser().resolve()
        readable = []
        for directory in allow_read:
            resolved = directory.expanduser().resolve()
            if not resolved.is_dir():
                raise UsageError(f"--allow-read {directory} is not a directory")
            readable.append(resolved)
        return cls(out, tuple(readable), max_cost_per_call_micros, no_budget, sandbox)


def serving_policy(
    *,
    sandbox: bool,
    output_dir: Path,
    allow_read: list[Path],
    max_cost_per_call: str | None,
    no_budget: bool,
) -> Policy:
    """The policy `flux2 mcp` serves under, from its flags and the settings. Refused (exit 7)
    without a daily or monthly budget unless `no_budget`; a real API needs its key now rather
    than failing every call."""
    from flux_cli.config import load_settings, load_values
    from flux_cli.errors import BudgetError
    from flux_cli.options import parse_money
    from flux_cli.pricing import usd_to_micros

    settings = load_settings()
    if not no_budget and (
        settings.daily_budget_micros is None and settings.monthly_budget_micros is None
    ):
        raise BudgetError(
            "flux2 mcp will not serve an agent without a daily or monthly budget",
            hint="set one (FLUX2_BUDGET_DAILY_USD=2.00, or flux2 config set budget.daily_usd "
            "2.00), or pass --no-budget to serve without one",
        )
    if max_cost_per_call is not None:
        ceiling = parse_money(max_cost_per_call, "--max-cost-per-call")
    else:
        ceiling = usd_to_micros(load_values()[CEILING_KEY].value)
    if not sandbox:
        from flux_cli.credentials import resolve_base_url, resolve_key

        resolve_base_url()
        resolve_key()
    return Policy.create(
        output_dir=output_dir,
        allow_read=allow_read,
        max_cost_per_call_micros=ceiling,
        no_budget=no_budget,
        sandbox=sandbox,
    )


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def readable_reference(text: str, policy: Policy) -> Path:
    """The file an agent names as a reference image, once it is known to lie below a directory
    the user allowed with --allow-read (after following symlinks). Relative paths are taken from
    the server's working directory. URLs and `-` (stdin carries the protocol) are refused."""
    raw = text.strip()
    if not raw or raw == "-" or "\x00" in raw:
        raise PathRefused(f"{text!r} is not a file path")
    if "://" in raw or raw.lower().startswith("data:"):
        raise PathRefused(
            f"references must be paths of local files, not URLs ({raw[:60]!r})",
            hint="save the image in a directory the server may read and pass its path",
        )
    if not policy.allow_read:
        raise PathRefused(
            "this server may not read any files, so it cannot edit images",
            hint="the user can allow a directory by starting flux2 mcp with --allow-read DIR",
        )
    candidate = Path(os.path.expanduser(raw))
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        resolved = None
    allowed = ", ".join(str(d) for d in policy.allow_read)
    if resolved is None or not any(_inside(resolved, d) for d in policy.allow_read):
        # The same answer whether or not the file exists: nothing is learnt about other dirs.
        if resolved is None and any(_inside(candidate.absolute(), d) for d in policy.allow_read):
            raise PathRefused(f"no such file: {raw}")
        raise PathRefused(
            f"{raw} is outside the directories this server may read ({allowed})",
            hint="the user can allow another directory with --allow-read DIR",
        )
    if not resolved.is_file():
        raise PathRefused(f"{raw} is not a file")
    return resolved


def output_spec(policy: Policy, template: str, name: str | None) -> str:
    """The `-o` value for a call: the output directory with the configured name template, or
    with a file name (or name template) the agent chose, which must be one path component."""
    if name is None or not name.strip():
        return f"{policy.output_dir}{os.sep}{template}"
    chosen = name.strip()
    if "/" in chosen or "\\" in chosen or chosen in {".", ".."} or "\x00" in chosen:
        raise PathRefused(
            f"the file name {name!r} must be a single name without directories",
            hint=f"images are written in {policy.output_dir}; give only a name like fox.png",
        )
    return f"{policy.output_dir}{os.sep}{chosen}"


def check_written(policy: Policy, path: str) -> None:
    """A last check that what was written lies in the output directory."""
    if not _inside(Path(path).resolve(), policy.output_dir):  # pragma: no cover - defence
        raise PathRefused(f"refusing a result outside the output directory: {path}")


def next_resets(now: datetime | None = None, zone: str | None = None) -> tuple[datetime, datetime]:
    """When the daily and the monthly budget windows start again: the next midnight and the 1st
    of next month in the budget zone (`budget.timezone`, the ledger's windows), as aware
    datetimes in that zone."""
    from flux_cli.ledger.times import next_window_starts

    if zone is None:
        from flux_cli.config import configured_budget_zone

        zone = configured_budget_zone()
    return next_window_starts(now or datetime.now(UTC), zone)
