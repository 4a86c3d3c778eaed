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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from flux_cli.generation import Plan
    from flux_cli.ledger import Row

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
