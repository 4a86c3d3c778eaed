"""`--batch FILE --resume`: which lines of a batch were already made, by their fingerprint.

A line's fingerprint is the request it sends, reduced to a sha256: where it goes (the ledger's
API label, the route), the model, the prompt, the seed, the size, aspect ratio and resolution,
the formats, the model options, and the sha256 of each reference as sent (a local file is sent
as a data URL, so this is a hash of its content); and the directory its image is written to, so
that the same prompts rendered into a new directory (a nightly `-o "$(date +%F)/"`) are a new
batch, not one already made. Two runs of the same line against the same API
compute the same fingerprint, and the ledger row of each call carries it (`calls.fingerprint`),
so the newest row of every line comes back in one indexed query.

A line without a seed gets one derived from its text and how many identical lines come before it
(`line_seed`), so it is the same on every run of the same file: inserting or removing other lines
changes no other line's seed, a changed line gets a new one, and repeated lines differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from flux_cli.errors import Flux2Error
from flux_cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from flux_cli.generation import Plan
    from flux_cli.ledger import Ledger, Row
    from flux_cli.planning import Item

Verdict = Literal["send", "skipped", "remade", "held", "restore"]
# How `flux_cli.saving.rescue_if_paid` names the rescue file in the row's error.
_RESCUED = re.compile(r"the image bytes were kept in (.+)$")
RESENT_UNKNOWN = "its earlier call has an unknown outcome (--resend-unknown)"
PAID_NOT_WRITTEN = "paid for earlier, but the image never reached the disk (bought twice)"


def request_key(command: str, plan: Plan, directory: Path | None) -> str:
    """The request of a planned line and the directory its image goes to (absolute), without
    the API (see `fingerprint`)."""
    fields = {
        "command": command,
        "directory": str(directory.resolve()) if directory is not None else None,
        "route": plan.route,
        "model": plan.model.id,
        "prompt": plan.prompt,
        "seed": plan.seeds[0] if plan.sends_seed else None,
        "size": list(plan.size),
        "explicit_size": list(plan.explicit_size) if plan.explicit_size else None,
        "aspect_ratio": plan.aspect_ratio,
        "resolution": plan.resolution,
        "request_format": plan.request_format,
        "target_format": plan.target_format,
        "options": [[name, repr(value)] for name, value in plan.options],
        "references": [hashlib.sha256(ref.encode()).hexdigest() for ref in plan.references],
    }
    return json.dumps(fields, sort_keys=True, ensure_ascii=False)


def fingerprint(api: str, key: str) -> str:
    """The fingerprint stored on a line's ledger row: its request key and the API's label."""
    return hashlib.sha256(f"{api}\0{key}".encode()).hexdigest()


def line_seed(text: str, occurrence: int, below: int) -> int:
    """The seed of a line that names none: from its text and the number of identical lines
    before it, in [0, below)."""
    digest = hashlib.sha256(f"flux2-seed\0{occurrence}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % below


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str | None = None  # why it is sent again, or held back
    row: Row | None = None  # the earlier row
    rescued: Path | None = None  # "restore": the paid bytes in the rescue directory


def judge(row: Row | None, *, resend_unknown: bool) -> Judgement:
    """What `--resume` does with a line whose newest row is `row` (None: never sent)."""
    if row is None:
        return Judgement("send")
    if not row.paths and row.status in ("ok", "failed") and (row.charged_micros or 0) > 0:
        rescued = rescued_file(row)
        if rescued is not None:
            return Judgement("restore", f"restored from {rescued}", row, rescued)
        return Judgement("remade", PAID_NOT_WRITTEN, row)
    if row.status == "ok":
        if not row.paths:
            return Judgement("remade", "its earlier call left no image", row)
        for path, digest in zip(row.paths, row.sha256s, strict=False):
            problem = _file_problem(Path(path), digest)
            if problem is not None:
                return Judgement("remade", f"{path} {problem}", row)
        return Judgement("skipped", None, row)
    if row.status in ("pending", "unknown"):
        if resend_unknown:
            return Judgement("remade", RESENT_UNKNOWN, row)
        return Judgement(
            "held",
            f"its earlier call (ledger row {row.id}) has an unknown outcome; not sent again",
            row,
        )
    return Judgement("send", None, row)  # failed earlier, nothing billed: nothing to keep


def rescued_file(row: Row) -> Path | None:
    """The rescue file holding a row's paid bytes, if its error names one that still exists."""
    from flux_cli.atomic_write import rescue_dir

    found = _RESCUED.search(row.error or "")
    if found is None:
        return None
    path = Path(found.group(1))
    try:
        inside = path.resolve().parent == rescue_dir().resolve()
    except OSError:
        return None
    # Only an image: bytes that failed their checks are kept too, but are no image to restore.
    return path if inside and path.is_file() and path.suffix != ".bin" else None


def written_file(directory: Path, sha256: str, since: datetime) -> Path | None:
    """The file in `directory` written after `since` whose content has this sha256, if any: the
    image of a row whose run was killed before it recorded the file's name."""
    cutoff = since.timestamp() - 2  # file times may be coarser than the ledger's
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return None
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
                continue
            if entry.stat().st_mtime < cutoff:
                continue
            with open(entry.path, "rb") as handle:
                if hashlib.file_digest(handle, "sha256").hexdigest() == sha256:
                    return Path(directory, entry.name)
        except OSError:
            continue
    return None


def _file_problem(path: Path, digest: str | None) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "was deleted"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        return "was changed"
    return None


class HeldBack(Flux2Error):
    """--resume: the line's earlier call may have been billed; it is not sent again."""

    exit_code = ExitCode.OUTCOME_UNKNOWN


def resume_lines(
    ledger: Ledger,
    runnable: list[Item],
    *,
    resend_unknown: bool,
    plan: Callable[[Item], None],
    reconcile: Callable[[], None],
) -> list[Item]:
    """--resume: judge each line by the newest ledger row of its fingerprint (one indexed
    query); the lines still to send. When an earlier call's outcome is unknown, `reconcile`
    runs first; such a line is then held back unless `resend_unknown`. Each line says what
    became of it in `Item.resumed` (and why in `Item.resume_reason`)."""
    from dataclasses import replace

    fingerprints = [item.fingerprint for item in runnable if item.fingerprint is not None]
    latest = ledger.latest_by_fingerprint(fingerprints)
    if any(row.status in ("pending", "unknown") for row in latest.values()):
        reconcile()
        latest = ledger.latest_by_fingerprint(fingerprints)
    to_send, made = [], []
    for item in runnable:
        row = latest.get(item.fingerprint) if item.fingerprint is not None else None
        if row is not None and row.status == "ok" and row.paths:
            # Made earlier: its file is checked (read and hashed) when its turn comes, after
            # the lines still to make, so that checking thousands of files delays no request.
            item.resumed, item.skipped_row = "verify", row
            made.append(item)
            continue
        judgement = judge(row, resend_unknown=resend_unknown)
        if row is not None and not row.paths and row.sha256s:
            # Killed between writing the image and settling its row: find the file.
            plan(item)  # for its output directory
            directory = item.output.directory if item.output is not None else None
            item.lean()
            found = written_file(directory or Path("."), row.sha256s[0], row.created_at)
            if found is not None:
                ledger.update(row.id, status="ok", paths=[str(found)])
                item.resumed, item.skipped_row = "skipped", ledger.get(row.id)
                continue
            row = replace(row, sha256s=())
            judgement = judge(row, resend_unknown=resend_unknown)
        if judgement.verdict == "skipped":
            assert row is not None
            item.resumed = "skipped"
            item.skipped_row = row
            continue
        if judgement.verdict == "restore":
            assert row is not None
            assert judgement.rescued is not None
            plan(item)  # for its output directory
            restored = restore(ledger, item, row, judgement.rescued)
            item.lean()
            if restored is not None:
                item.resumed, item.skipped_row = "restored", restored
                continue
            item.resumed, item.resume_reason = (
                "remade",
                f"{judgement.rescued} could not be restored",
            )
        if judgement.verdict == "held":
            item.resumed, item.resume_reason = "held", judgement.reason
            item.error = HeldBack(f"held back: {judgement.reason}")
            continue
        if judgement.verdict == "remade":
            item.resumed, item.resume_reason = "remade", judgement.reason
        to_send.append(item)
    return to_send + made


def verify_made(item: Item) -> bool:
    """A line made earlier (see `resume_lines`), at its turn: True when its file is still there
    as written (the line is skipped); otherwise it is to be made again, and says why."""
    row = item.skipped_row
    assert row is not None
    judgement = judge(row, resend_unknown=False)
    if judgement.verdict == "skipped":
        item.resumed = "skipped"
        return True
    item.resumed, item.resume_reason, item.skipped_row = "remade", judgement.reason, None
    return False


def restore(ledger: Ledger, item: Item, row: Row, rescued: Path) -> Row | None:
    """Write the paid bytes kept in the rescue directory where the line's image goes, and record
    the file on the earlier row; that row as it is now, or None when it cannot be done. The
    rescue file stays where it is."""
    from flux_cli.atomic_write import write_atomic
    from flux_cli.errors import OutputError

    directory = item.output.directory if item.output is not None else None
    try:
        data = rescued.read_bytes()
        path = write_atomic(directory or Path("."), rescued.name, data)
    except (OSError, OutputError):
        return None
    digest = hashlib.sha256(data).hexdigest()
    ledger.update(row.id, status=row.status, paths=[str(path)], sha256s=[digest])
    return ledger.get(row.id)
