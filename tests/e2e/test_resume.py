"""`--batch FILE --resume`: a rerun of a batch pays only for what it does not have yet."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from flux_cli.batching import ANSWER_WORKERS
from flux_cli.ledger import Ledger
from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command
from tests.e2e.test_json_records import SCHEMA_PATH

pytestmark = pytest.mark.e2e


def _posts(sandbox: Sandbox) -> int:
    return len([r for r in sandbox.requests if r.path.endswith("/images")])


def _records(text: str) -> dict[int, dict[str, object]]:
    return {int(r["line"]): r for r in map(json.loads, text.splitlines())}


def _charges_match(sandbox: Sandbox) -> None:
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)
    assert sum(r.charged_micros or 0 for r in rows) == sandbox.spent_micros()


def test_lines_made_are_skipped_and_deleted_or_changed_files_are_made_again(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    lines = ["a fox", "a cat", json.dumps({"prompt": "a dog", "seed": 5}), "a fox", "an owl"]
    (workdir / "jobs.txt").write_text("\n".join(lines) + "\n")
    first = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--json")
    first.assert_clean()
    assert first.returncode == 0, first.stderr[-2000:]
    made = _records(first.out)
    assert _posts(sandbox) == 5
    # The two "a fox" lines get different seeds, and the same ones on every run.
    assert made[1]["seed"] != made[4]["seed"]
    Path(workdir / str(made[2]["path"])).unlink()
    Path(workdir / str(made[5]["path"])).write_bytes(b"not the image any more")

    again = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume")
    again.assert_clean()
    assert again.returncode == 0, again.stderr[-2000:]
    records = _records(again.out)
    assert {n: r["status"] for n, r in records.items()} == {
        1: "skipped",
        2: "ok",
        3: "skipped",
        4: "skipped",
        5: "ok",
    }
    for n in (1, 3, 4):
        assert records[n]["path"] == made[n]["path"]
        assert records[n]["charged_micros"] == made[n]["charged_micros"]
        assert records[n]["sha256"] == made[n]["sha256"]
    assert records[2]["seed"] == made[2]["seed"]  # the same request, made again
    assert _posts(sandbox) == 5 + 2
    assert "was deleted" in again.stderr
    assert "was changed" in again.stderr
    assert "skipped" in again.stderr
    _charges_match(sandbox)

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = Draft202012Validator({**schema, "$ref": "#/$defs/result"})
    for record in records.values():
        assert not [e.message for e in validator.iter_errors(record)], record

    # Nothing left to do: a third run sends nothing.
    third = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume")
    assert third.returncode == 0, third.stderr[-2000:]
    assert {r["status"] for r in _records(third.out).values()} == {"skipped"}
    assert _posts(sandbox) == 7


def test_a_changed_line_gets_a_new_seed_and_is_sent(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "jobs.txt").write_text("a fox\na cat\n")
    assert flux2("generate", "--batch", "jobs.txt", "-o", "out/", "-q").returncode == 0
    (workdir / "jobs.txt").write_text("a red fox\na cat\n")
    again = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert {n: r["status"] for n, r in _records(again.out).items()} == {1: "ok", 2: "skipped"}
    assert _posts(sandbox) == 3
    # The same lines into another directory (tomorrow night's) are a new batch.
    other = flux2("generate", "--batch", "jobs.txt", "-o", "tomorrow/", "--json", "--resume")
    assert other.returncode == 0, other.stderr[-2000:]
    assert {r["status"] for r in _records(other.out).values()} == {"ok"}
    assert _posts(sandbox) == 5


def test_edit_batches_resume_too_and_a_changed_reference_is_a_new_request(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    made = flux2("generate", "a fox", "-o", "fox.jpg", "-q")
    assert made.returncode == 0, made.stderr
    made = flux2("generate", "a cat", "-o", "cat.jpg", "-q")
    assert made.returncode == 0, made.stderr
    lines = [{"prompt": "give it a scarf", "images": ["ref.jpg"]}, {"prompt": "night"}]
    (workdir / "edits.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (workdir / "ref.jpg").write_bytes((workdir / "fox.jpg").read_bytes())
    edit = ["edit", "--batch", "edits.jsonl", "-i", "cat.jpg", "-o", "edits/", "--json"]
    first = flux2(*edit)
    assert first.returncode == 0, first.stderr[-2000:]
    posts = _posts(sandbox)
    again = flux2(*edit, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert {r["status"] for r in _records(again.out).values()} == {"skipped"}
    assert _posts(sandbox) == posts
    # Same file name, other content: the reference's sha256 is part of the request.
    (workdir / "ref.jpg").write_bytes((workdir / "cat.jpg").read_bytes())
    third = flux2(*edit, "--resume")
    assert third.returncode == 0, third.stderr[-2000:]
    assert {n: r["status"] for n, r in _records(third.out).items()} == {1: "ok", 2: "skipped"}
    assert _posts(sandbox) == posts + 1


def test_an_unknown_outcome_is_reconciled_and_a_billed_image_never_written_is_bought_again(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "jobs.txt").write_text("one\ntwo\nthree\n")
    sandbox.set_rule("images", Fault(kind="drop-after-headers", times=1))  # billed, cut off
    first = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--concurrency", "1")
    assert first.returncode == 3, first.stderr[-2000:]
    with Ledger.open() as ledger:
        assert [r.status for r in ledger.rows(sandbox.base_url)].count("unknown") == 1

    again = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume")
    again.assert_clean()
    assert again.returncode == 0, again.stderr[-2000:]
    records = _records(again.out)
    assert sorted(str(r["status"]) for r in records.values()) == ["ok", "skipped", "skipped"]
    assert "bought twice: line 1" in again.stderr
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)
    assert not [r for r in rows if r.status in ("pending", "unknown")]  # reconciled
    assert _posts(sandbox) == 4
    _charges_match(sandbox)


def test_a_still_unknown_outcome_is_held_back_unless_resend_unknown(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "jobs.txt").write_text("one\ntwo\n")
    sandbox.set_rule("images", Fault(kind="drop", times=1))  # no answer, no generation id
    first = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--concurrency", "1")
    assert first.returncode == 3, first.stderr[-2000:]
    assert _posts(sandbox) == 2

    held = flux2("generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume")
    held.assert_clean()
    records = _records(held.out)
    assert sorted(str(r["status"]) for r in records.values()) == ["failed", "skipped"]
    (failed,) = [r for r in records.values() if r["status"] == "failed"]
    assert failed["exit_code"] == 9
    assert "held back" in str(failed["error"])
    assert held.returncode == 3
    assert "held back" in held.stderr
    assert _posts(sandbox) == 2  # never silently re-sent

    resent = flux2(
        "generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume", "--resend-unknown"
    )
    assert resent.returncode == 0, resent.stderr[-2000:]
    assert sorted(str(r["status"]) for r in _records(resent.out).values()) == ["ok", "skipped"]
    assert _posts(sandbox) == 3
    assert "--resend-unknown" in resent.stderr


def test_paid_bytes_in_the_rescue_directory_are_restored_instead_of_bought_again(
    sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "jobs.txt").write_text("a lighthouse\n")
    (workdir / "out").mkdir()
    sandbox.set_rule("images", Fault(kind="slow", delay=1.5))
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "--batch", "jobs.txt", "-o", "out/"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while _posts(sandbox) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # The output directory goes away while the paid answer is on its way: it cannot be written.
    (workdir / "out").rmdir()
    (workdir / "out").write_text("in the way")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"kept in" in err
    (workdir / "out").unlink()
    (workdir / "out").mkdir()

    again = subprocess.run(
        [*flux2_command(), "generate", "--batch", "jobs.txt", "-o", "out/", "--json", "--resume"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    (record,) = _records(again.stdout.decode()).values()
    assert record["status"] == "restored"
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = Draft202012Validator({**schema, "$ref": "#/$defs/result"})
    assert not [e.message for e in validator.iter_errors(record)], record
    restored = workdir / str(record["path"])
    assert restored.parent == workdir / "out"
    assert restored.stat().st_size > 0
    assert _posts(sandbox) == 1  # bought once
    _charges_match(sandbox)


@pytest.mark.slow
def test_a_batch_killed_at_random_points_is_finished_by_resume_paying_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(int(os.environ.get("FLUX2_KILL_SEED", "19")))
    concurrency = 4
    for run in range(3):
        with Sandbox(SandboxConfig(port=0)) as sandbox:
            _kill_and_resume(sandbox, tmp_path / f"run{run}", rng.randrange(5, 180), concurrency)


def _kill_and_resume(sandbox: Sandbox, workdir: Path, target: int, concurrency: int) -> None:
    workdir.mkdir()
    lines = 200
    (workdir / "jobs.txt").write_text("".join(f"picture {i}\n" for i in range(lines)))
    before_posts = 0  # a fresh sandbox
    sandbox.set_rule("images", Fault(kind="slow", delay=0.05))
    env = {
        **os.environ,
        "FLUX2_BASE_URL": sandbox.base_url,
        "OPENROUTER_API_KEY": CANARY_KEY,
    }
    command = [*flux2_command(), "generate", "--batch", "jobs.txt", "-o", "out/"]
    command += ["--concurrency", str(concurrency)]
    proc = subprocess.Popen(
        [*command, "-q"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while _posts(sandbox) - before_posts < target:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = _posts(sandbox) - before_posts

    resumed = subprocess.run(
        [*command, "--json", "--resume", "--resend-unknown"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    records = _records(resumed.stdout.decode())
    assert sorted(records) == list(range(1, lines + 1))
    images = sorted((workdir / "out").iterdir())
    assert len(images) == lines  # exactly one image per line
    assert not [p for p in workdir.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    posts = _posts(sandbox) - before_posts
    # Paid twice: the requests out at the kill, and answers received but not yet written
    # (at most K queued for the answerers, and one being written by each answerer).
    sent = Counter(
        str(r.body["prompt"])
        for r in sandbox.requests[before_posts:]
        if r.path.endswith("/images") and isinstance(r.body, dict)
    )
    twice = {int(prompt.rsplit(" ", 1)[1]) + 1 for prompt, n in sent.items() if n > 1}
    # A request whose body the kill cut short never parsed, so it was refused and never billed:
    # at most one per slot.
    assert posts - sum(sent.values()) <= concurrency
    posts = sum(sent.values())
    assert posts - lines == len(twice)  # never more than twice
    assert len(twice) <= 2 * concurrency + min(concurrency, ANSWER_WORKERS), killed_at
    named = set()
    for found in re.finditer(r"bought twice: lines? ([\d, ]+)", resumed.stderr.decode()):
        named |= {int(n) for n in found.group(1).split(",")}
    assert twice <= named  # the summary names every line paid for twice
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)
    charged = sum(r.charged_micros or 0 for r in rows)
    counted = sum(r.counted_micros for r in rows)
    spent = sandbox.spent_micros()
    unknown = [r for r in rows if r.status == "unknown"]
    # Every settled row's charge is the sandbox's; a request cut off by the kill has no
    # generation id to look up, so its row stays unknown and counts at its estimate.
    assert charged <= spent <= counted
    assert spent - charged <= sum(r.estimate_micros for r in unknown)
    assert len(unknown) <= 2 * concurrency + min(concurrency, ANSWER_WORKERS)
    assert not [r for r in rows if r.status == "pending"]
