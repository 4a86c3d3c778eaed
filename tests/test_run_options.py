"""The checks generate and edit make of their flags before anything is planned or sent: which
combinations are refused, in what order, and what is only warned about."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flux_cli.config import load_settings
from flux_cli.errors import UsageError
from flux_cli.options import (
    GenerateOptions,
    check_batch_options,
    check_stdout_output,
    image_from_stdin,
    run_options,
)

OPTS = GenerateOptions(
    prompt="a fox",
    prompt_file=None,
    model="pro",
    aspect_ratio=None,
    size=None,
    seed=None,
    image_format=None,
    count=1,
    output=None,
    force=False,
    max_cost=None,
    dry_run=False,
    json_lines=False,
    quiet=False,
    route="images",
    timeout=300.0,
    retries=2,
    retry_ambiguous=False,
    sandbox=False,
)


def _merged(
    opts: GenerateOptions = OPTS,
    *,
    batch: str | None = None,
    from_file: Path | None = None,
    resume: tuple[bool, bool] = (False, False),
    concurrency: int = 4,
    explicit: frozenset[str] = frozenset(),
) -> tuple[GenerateOptions, int, list[str]]:
    said: list[str] = []
    merged, concurrency = run_options(
        opts,
        concurrency,
        explicit,
        load_settings({}),
        batch=batch,
        from_file=from_file,
        resume=resume,
        warn=said.append,
    )
    return merged, concurrency, said


def _refused(**given: object) -> str:
    with pytest.raises(UsageError) as refused:
        _merged(**given)  # type: ignore[arg-type]
    return refused.value.message


def test_plain_options_pass_with_the_config_defaults() -> None:
    merged, concurrency, said = _merged(concurrency=9)
    assert merged.model == "pro"
    assert concurrency == load_settings({}).concurrency  # not given: the configured one
    assert said == []
    _, given, _ = _merged(concurrency=9, explicit=frozenset({"concurrency"}))
    assert given == 9


def test_combinations_refused_in_the_order_people_meet_them() -> None:
    bad_route = replace(OPTS, route="ftp")
    given = frozenset({"route"})
    assert _refused(opts=bad_route, batch="b.txt", from_file=Path("x.png"), explicit=given) == (
        "--api must be images or chat, got 'ftp'"
    )
    assert _refused(batch="b.txt", from_file=Path("x.png"), resume=(False, True)) == (
        "--from and --batch do not combine"
    )
    assert _refused(resume=(True, True)) == "--resume goes with --batch FILE"
    assert _refused(batch="b.txt", resume=(False, True)) == "--resend-unknown goes with --resume"
    edit = replace(OPTS, command="edit")
    assert _refused(opts=edit) == "edit needs at least one reference image"
    assert _merged(edit, batch="b.txt")[0].command == "edit"  # a batch line names its images


def test_a_recipe_that_cannot_be_read_is_refused_before_the_resume_checks(
    tmp_path: Path,
) -> None:
    with pytest.raises(UsageError):
        _merged(from_file=tmp_path / "missing.png", resume=(False, True))


def test_image_bytes_on_stdout_are_refused_at_a_terminal_and_with_json() -> None:
    with pytest.raises(UsageError, match="refusing to write image bytes to a terminal"):
        check_stdout_output(OPTS, stdout_is_tty=True)
    with pytest.raises(UsageError, match="--json and -o - both write to stdout"):
        check_stdout_output(replace(OPTS, json_lines=True), stdout_is_tty=False)
    assert check_stdout_output(OPTS, stdout_is_tty=False) == []
    (warning,) = check_stdout_output(replace(OPTS, preview=True), stdout_is_tty=False)
    assert warning.startswith("--preview is ignored with -o -")


def test_an_image_from_stdin_leaves_the_prompt_to_the_argument() -> None:
    assert not image_from_stdin(OPTS, stdin_is_tty=True)  # no `-i -`: stdin is not looked at
    piped = replace(OPTS, images=("-",))
    assert image_from_stdin(piped, stdin_is_tty=False)
    with pytest.raises(UsageError, match="from a terminal"):
        image_from_stdin(piped, stdin_is_tty=True)
    with pytest.raises(UsageError, match="so the prompt cannot come from stdin"):
        image_from_stdin(replace(piped, prompt=None), stdin_is_tty=False)
    with pytest.raises(UsageError, match="so the prompt cannot come from stdin"):
        image_from_stdin(replace(piped, prompt="-"), stdin_is_tty=False)
    assert image_from_stdin(replace(piped, prompt=None, prompt_file=Path("p")), stdin_is_tty=False)


def test_what_a_batch_does_not_combine_with() -> None:
    batch = replace(OPTS, prompt=None)
    assert check_batch_options(batch, 4) == []
    with pytest.raises(UsageError, match="--concurrency must be between 1 and"):
        check_batch_options(replace(batch, prompt="a fox"), 0)  # checked first
    with pytest.raises(UsageError, match="give no prompt argument"):
        check_batch_options(replace(batch, prompt="a fox", count=2), 4)
    with pytest.raises(UsageError, match="-n does not combine with --batch"):
        check_batch_options(replace(batch, count=2, output="-"), 4)
    with pytest.raises(UsageError, match="cannot write images to stdout"):
        check_batch_options(replace(batch, output="-", preview=True), 4)
    (warning,) = check_batch_options(replace(batch, preview=True), 4)
    assert warning.startswith("--preview is ignored with --batch")


def test_options_from_parsed_parameters_keep_only_their_own() -> None:
    params = {name: getattr(OPTS, name) for name in ("prompt", "prompt_file", "model")}
    params |= {f: getattr(OPTS, f) for f in ("aspect_ratio", "size", "seed", "image_format")}
    params |= {f: getattr(OPTS, f) for f in ("count", "output", "force", "max_cost", "dry_run")}
    params |= {f: getattr(OPTS, f) for f in ("json_lines", "quiet", "route", "timeout")}
    params |= {f: getattr(OPTS, f) for f in ("retries", "retry_ambiguous", "sandbox")}
    parsed = GenerateOptions.from_params("edit", {**params, "batch": None, "images": ["a.png"]})
    assert parsed == replace(OPTS, command="edit", images=("a.png",))
    assert GenerateOptions.from_params("generate", {**params, "images": None}).images == ()
