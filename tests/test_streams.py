"""Standard streams: closed ones at start, a reader that went away, tables off a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from flux_cli.streams import (
    UNWRAPPED_WIDTH,
    ClosedText,
    TrimmedLines,
    env_flag,
    isatty,
    point_at_devnull,
    unwrapped_width,
)


def test_trimmed_lines_drop_the_padding_of_each_line_and_keep_the_last_until_flushed() -> None:
    target = io.StringIO()
    stream = TrimmedLines(target)
    stream.write("a   \nb ")
    assert target.getvalue() == "a\n"
    stream.write("  c   \n")
    assert target.getvalue() == "a\nb   c\n"
    stream.write("tail  ")
    stream.flush()
    assert target.getvalue() == "a\nb   c\ntail  "
    assert not stream.isatty()
    assert stream.encoding == "utf-8"


@pytest.mark.parametrize(
    ("columns", "width"),
    [
        ("", UNWRAPPED_WIDTH),
        ("80", 80),
        (" 120 ", 120),
        ("0", UNWRAPPED_WIDTH),
        ("wide", UNWRAPPED_WIDTH),
    ],
)
def test_columns_sets_the_width_off_a_terminal(
    columns: str, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert unwrapped_width() == width


@pytest.mark.parametrize(
    ("value", "on"), [("1", True), (" Yes ", True), ("on", True), ("0", False), ("", False)]
)
def test_env_flag(value: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX2_TEST_FLAG", value)
    assert env_flag("FLUX2_TEST_FLAG") is on


def test_isatty_is_false_for_what_cannot_say() -> None:
    closed = io.StringIO()
    closed.close()
    assert isatty(closed) is False
    assert isatty(object()) is False
    assert isatty(io.StringIO()) is False


def test_a_closed_stream_drops_text_and_refuses_bytes() -> None:
    stand_in = ClosedText()
    assert stand_in.write("lost") == 4
    assert not stand_in.isatty()
    with pytest.raises(ValueError, match="closed file"):
        stand_in.buffer.write(b"image")


def test_a_closed_stdout_at_start_is_filled_so_a_file_opened_later_cannot_take_it(
    tmp_path: object,
) -> None:
    code = (
        "import os, sys\n"
        "from flux_cli.streams import stand_in_for_closed_streams\n"
        "stand_in_for_closed_streams()\n"
        "print('dropped')\n"
        "fd = os.open(os.devnull, os.O_RDONLY)\n"
        "sys.stderr.write(f'{fd} {type(sys.stdout).__name__}')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        pass_fds=(),
        close_fds=True,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 0, proc.stderr
    fd, kind = proc.stderr.split()
    assert int(fd) > 2
    assert kind == "ClosedText"


def test_pointing_at_devnull_keeps_later_writes_from_failing(tmp_path: object) -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    os.close(read_end)  # the reader has gone
    point_at_devnull(stream)
    stream.write("after the reader went\n")
    stream.flush()  # no BrokenPipeError: it goes to /dev/null now
    stream.close()
