"""--batch and --lock as pipelines and cron jobs use them (issue 6)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from flux_cli.ledger import Ledger
from flux_cli.sandbox import Fault, Sandbox
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command

pytestmark = pytest.mark.e2e


def _batch(path: Path, bad: tuple[int, ...] = ()) -> Path:
    lines = []
    for number in range(1, 51):
        if number in bad:
            lines.append('{"prompt": "broken", "colour": "red"}' if number % 2 else "{not json")
        elif number % 3 == 0:
            lines.append(json.dumps({"prompt": f"item {number}", "seed": number, "model": "klein"}))
        else:
            lines.append(f"item {number}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fifty_lines_two_bad_three_502s(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    batch = _batch(workdir / "jobs.jsonl", bad=(7, 20))
    sandbox.set_rule("images", Fault(status=502, times=3))
    result = flux2(
        "generate", "--batch", "jobs.jsonl", "--json", "--concurrency", "4", "-o", "out/"
    )
    result.assert_clean()
    assert result.returncode == 3, result.stderr[-2000:]
    records = [json.loads(line) for line in result.out.splitlines()]
    assert len(records) == 50
    assert sorted(r["line"] for r in records) == list(range(1, 51))
    failed = sorted(r["line"] for r in records if r["status"] == "failed")
    assert failed == [7, 20]
    assert all(r["exit_code"] == 2 for r in records if r["status"] == "failed")
    images = list((workdir / "out").iterdir())
    assert len(images) == 48
    assert "Batch summary" in result.stderr
    assert "lines 7, 20" in result.stderr
    posts = [r for r in sandbox.requests if r.path.endswith("/images")]
    assert len(posts) == 48 + 3  # every 502 retried once, nothing else repeated
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)
    assert len(rows) == 48
    assert sum(r.charged_micros or 0 for r in rows) == sandbox.spent_micros()
    assert batch.exists()

    # Again with a budget that covers only part of it: it stops at the budget, exit 7 for the rest.
    spent_today = sandbox.spent_micros()
    budget = (spent_today + 10 * 30_000) / 1_000_000
    again = flux2(
        "generate",
        "--batch",
        "jobs.jsonl",
        "--json",
        "--concurrency",
        "1",
        "-o",
        "again/",
        env={"FLUX2_BUDGET_DAILY_USD": f"{budget:.6f}"},
    )
    assert again.returncode == 3
    records = [json.loads(line) for line in again.out.splitlines()]
    blocked = [r for r in records if r.get("exit_code") == 7]
    written = [r for r in records if r["status"] == "ok"]
    assert blocked
    assert sum(r["charged_usd"] for r in written) <= budget - spent_today / 1_000_000 + 1e-9
    assert len(written) + len(blocked) == 48


def test_cron_like_run_never_blocks_and_logs_plain_lines(sandbox: Sandbox, tmp_path: Path) -> None:
    home = tmp_path / "cronhome"
    home.mkdir()
    (home / "b.txt").write_text("a red fox\na blue whale\nsnowy owl\n")
    script = flux2_command()
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "FLUX2_BASE_URL": sandbox.base_url,
        "OPENROUTER_API_KEY": CANARY_KEY,
        "FLUX2_DATA_DIR": str(home / "data"),
        "FLUX2_STATE_DIR": str(home / "state"),
        "FLUX2_CACHE_DIR": str(home / "cache"),
        "FLUX2_CONFIG_DIR": str(home / "config"),
    }
    log = home / "cron.log"
    with log.open("wb") as stderr:
        proc = subprocess.run(
            [
                "env",
                "-i",
                *[f"{k}={v}" for k, v in env.items()],
                *script,
                "generate",
                "--batch",
                "b.txt",
            ],
            cwd=home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            timeout=60,
            check=False,
        )
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "\x1b" not in text
    item_lines = [line for line in text.splitlines() if " [" in line and " line " in line]
    assert len(item_lines) == 3
    # A log tells one night from the next: each progress line carries the time.
    assert all(re.match(r"flux2: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d/3\]", x) for x in item_lines)
    assert all(" ok $0.030 " in line for line in item_lines)
    assert len(proc.stdout.decode().splitlines()) == 3
    assert CANARY_KEY not in text


def test_batch_from_stdin_and_quiet(flux2: Flux2, workdir: Path) -> None:
    result = flux2("generate", "--batch", "-", "-q", stdin=b"one\ntwo\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(result.out.splitlines()) == 2


def test_a_second_run_holding_the_same_lock_exits_8_and_sends_nothing(
    sandbox: Sandbox, flux2: Flux2, workdir: Path
) -> None:
    sandbox.push_fault("images", Fault(kind="slow", delay=4))
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    first = subprocess.Popen(
        [*flux2_command(), "generate", "first", "--lock", "nightly", "-q"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not any(r.path.endswith("/images") for r in sandbox.requests):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    second = flux2("generate", "second", "--lock", "nightly")
    assert time.monotonic() - started < 5
    assert second.returncode == 8
    assert "holds the lock 'nightly'" in second.stderr
    assert "nothing was sent" in second.stderr
    _out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    assert len([r for r in sandbox.requests if r.path.endswith("/images")]) == 1
    third = flux2("generate", "third", "--lock", "nightly", "-q")
    assert third.returncode == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--lock", "../x"], "--lock name"), (["x", "--batch", "b.txt"], "no prompt argument")],
)
def test_batch_and_lock_usage_errors(
    flux2: Flux2, workdir: Path, args: list[str], words: str
) -> None:
    (workdir / "b.txt").write_text("a\n")
    result = flux2("generate", *args)
    assert result.returncode == 2
    assert words in result.stderr


def test_with_the_progress_bar_on_a_terminal_stdout_still_goes_to_the_pipe(
    sandbox: Sandbox, workdir: Path
) -> None:
    """stderr a terminal (progress bar), stdout a pipe: every path must reach the pipe."""
    import pty

    (workdir / "b.txt").write_text("".join(f"prompt {i}\n" for i in range(5)))
    leader, follower = pty.openpty()
    env = {
        **os.environ,
        "FLUX2_BASE_URL": sandbox.base_url,
        "OPENROUTER_API_KEY": CANARY_KEY,
        "TERM": "xterm",
    }
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [*flux2_command(), "generate", "--batch", "b.txt"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=60,
        check=False,
    )
    os.close(follower)
    screen = b""
    try:
        while chunk := os.read(leader, 65536):
            screen += chunk
    except OSError:
        pass
    os.close(leader)
    assert proc.returncode == 0
    paths = proc.stdout.decode().splitlines()
    assert len(paths) == 5
    assert all((workdir / p).exists() for p in paths)
    assert b".jpg" not in screen.replace(b"Batch summary", b"")


def test_from_an_image_reproduces_the_same_request_and_image(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    from PIL import Image

    first = flux2(
        "generate",
        "a lighthouse at dusk",
        "-m",
        "max",
        "--size",
        "1536x1024",
        "--seed",
        "77",
        "-o",
        "out.png",
    )
    assert first.returncode == 0, first.stderr
    again = flux2("generate", "--from", "out.png", "-o", "again.png")
    again.assert_clean()
    assert again.returncode == 0, again.stderr
    bodies = [r.body for r in sandbox.requests if r.path.endswith("/images")]
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    with Image.open(workdir / "out.png") as a, Image.open(workdir / "again.png") as b:
        assert a.size == b.size == (1536, 1024)
        assert a.tobytes() == b.tobytes()
    # Flags win over the recipe.
    changed = flux2(
        "generate", "--from", "out.png", "--seed", "78", "-o", "changed.png", "--json", "-q"
    )
    record = json.loads(changed.out)
    assert record["seed"] == 78
    assert record["model"] == "black-forest-labs/flux.2-max"
    assert record["prompt"] == "a lighthouse at dusk"


def test_from_a_json_line(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    line = flux2("generate", "a red fox", "-a", "16:9", "--seed", "5", "--json", "-q").out
    (workdir / "fox.json").write_text(line)
    again = flux2("generate", "--from", "fox.json", "--json", "-q")
    assert again.returncode == 0, again.stderr
    bodies = [r.body for r in sandbox.requests if r.path.endswith("/images")]
    assert bodies[0] == bodies[1]


def test_metadata_levels_are_embedded_and_inspectable(flux2: Flux2, workdir: Path) -> None:
    assert flux2("generate", "a secret prompt", "-o", "full.jpg", "-q").returncode == 0
    assert (
        flux2(
            "generate", "a secret prompt", "-o", "minimal.jpg", "--metadata", "minimal", "-q"
        ).returncode
        == 0
    )
    assert (
        flux2(
            "generate", "a secret prompt", "-o", "none.jpg", "--metadata", "none", "-q"
        ).returncode
        == 0
    )
    full = json.loads(flux2("inspect", "full.jpg", "--json").out)["recipe"]
    assert full["prompt"] == "a secret prompt"
    assert full["cost_usd"] == "0.03"
    minimal = json.loads(flux2("inspect", "minimal.jpg", "--json").out)["recipe"]
    assert "prompt" not in minimal or minimal["prompt"] is None
    assert json.loads(flux2("inspect", "none.jpg", "--json").out)["recipe"] is None
    assert b"a secret prompt" not in (workdir / "minimal.jpg").read_bytes()


def test_config_defaults_reach_generate_and_flags_still_win(flux2: Flux2, workdir: Path) -> None:
    assert flux2("config", "set", "model", "klein").returncode == 0
    assert flux2("config", "set", "output_dir", str(workdir / "renders")).returncode == 0
    assert flux2("config", "set", "format", "png").returncode == 0
    first = flux2("generate", "a fox", "--json", "-q")
    assert first.returncode == 0, first.stderr
    record = json.loads(first.out)
    assert record["model"] == "black-forest-labs/flux.2-klein-4b"
    assert record["format"] == "png"
    assert Path(record["path"]).parent == workdir / "renders"
    flagged = json.loads(
        flux2("generate", "a fox", "-m", "pro", "--json", "-q", "-o", "here.jpg").out
    )
    assert flagged["model"] == "black-forest-labs/flux.2-pro"
    assert flagged["path"] == "here.jpg"
    env = json.loads(flux2("generate", "a fox", "--json", "-q", env={"FLUX2_MODEL": "max"}).out)
    assert env["model"] == "black-forest-labs/flux.2-max"
    assert json.loads(flux2("cost", "--json").out)["alias"] == "klein"


def test_ctrl_c_in_a_batch_stops_new_items_and_exits_130(sandbox: Sandbox, workdir: Path) -> None:
    import signal

    (workdir / "b.txt").write_text("".join(f"prompt {i}\n" for i in range(12)))
    sandbox.set_rule("images", Fault(kind="slow", delay=1.5))
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "--batch", "b.txt", "--concurrency", "2", "--json"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while len([r for r in sandbox.requests if r.path.endswith("/images")]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    sent = len([r for r in sandbox.requests if r.path.endswith("/images")])
    assert sent < 12  # no new items started after Ctrl-C
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert all(r["status"] == "ok" for r in records)  # the ones in flight finished
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)
    # Items waiting for a slot have their rows written ahead; those never sent are settled as
    # such: failed, nothing charged, exit 130.
    not_sent = [r for r in rows if r.error == "interrupted before the request was sent"]
    assert all((r.status, r.charged_micros, r.exit_code) == ("failed", 0, 130) for r in not_sent)
    assert len(not_sent) <= 2  # at most one per slot waits with its row
    sent_rows = [r for r in rows if r not in not_sent]
    assert len(sent_rows) == sent
    assert {r.status for r in sent_rows} <= {"ok", "unknown"}
    assert not [r for r in rows if r.status == "pending"]


def test_ctrl_c_with_n_sends_no_more_images(sandbox: Sandbox, workdir: Path) -> None:
    import signal

    sandbox.set_rule("images", Fault(kind="slow", delay=1.5))
    env = {**os.environ, "FLUX2_BASE_URL": sandbox.base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "a fox", "-n", "16", "-q"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while len([r for r in sandbox.requests if r.path.endswith("/images")]) < 8:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert len([r for r in sandbox.requests if r.path.endswith("/images")]) == 8


def test_concurrency_k_keeps_exactly_k_requests_out(workdir: Path) -> None:
    """A worker lets its next request go once an answer's bytes are in and checks and saves the
    image meanwhile, so the sandbox sees K generations at once, never more."""
    from flux_cli.sandbox import SandboxConfig

    (workdir / "b.txt").write_text("".join(f"prompt {i}\n" for i in range(9)))
    with Sandbox(SandboxConfig(port=0, latency=0.3)) as sb:
        run = Flux2(workdir, sb.base_url)("generate", "--batch", "b.txt", "--concurrency", "3")
        peak = sb.peak_in_flight
    run.assert_clean()
    assert run.returncode == 0, run.stderr
    assert len(run.out.splitlines()) == 9
    assert peak == 3


def test_each_batch_run_has_an_id_on_its_rows_and_history_lists_one_run(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "night.txt").write_text("a boat\na lighthouse\na gull\n")
    runs = []
    for _ in range(2):
        result = flux2("generate", "--batch", "night.txt", "-o", "out/")
        result.assert_clean()
        assert result.returncode == 0, result.stderr[-2000:]
        found = re.search(
            r"run\s+(\d{8}-\d{6}-[0-9a-f]{6}) \(flux2 history --run \1\)", result.stderr
        )
        assert found, result.stderr[-2000:]
        runs.append(found.group(1))
    assert runs[0] != runs[1]
    with Ledger.open() as ledger:
        rows = ledger.rows(sandbox.base_url)
    assert sorted(r.run_id or "" for r in rows) == sorted([runs[0]] * 3 + [runs[1]] * 3)
    listed = flux2("history", "--run", runs[1], "--json")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.out.splitlines()]
    assert len(records) == 3
    assert {r["run_id"] for r in records} == {runs[1]}
    single = flux2("generate", "a fox", "-o", "fox.jpg")
    assert single.returncode == 0, single.stderr
    with Ledger.open() as ledger:
        newest = ledger.rows(sandbox.base_url, limit=1)[0]
    assert newest.run_id is None
