"""The -o plan: stdout, a directory, a file or a name template, checked before anything is paid."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_cli.errors import UsageError
from flux_cli.filenames import NameFields
from flux_cli.output import DEFAULT_TEMPLATE, OutputPlan, plan_outputs
from tests.test_filenames import FIELDS

# --- planning -----------------------------------------------------------------------------------


def test_plan_default(tmp_path: Path) -> None:
    plan = plan_outputs(None, count=2, default_dir=tmp_path)
    assert plan == OutputPlan(directory=tmp_path, template=DEFAULT_TEMPLATE)
    assert not plan.to_stdout
    assert plan.name_for(FIELDS).endswith("-42-a-red-fox-in-the-snow.png")


def test_plan_stdout(tmp_path: Path) -> None:
    plan = plan_outputs("-", count=1, default_dir=tmp_path)
    assert plan.to_stdout
    assert plan.directory is None
    with pytest.raises(UsageError, match="single image"):
        plan_outputs("-", count=2, default_dir=tmp_path)


@pytest.mark.parametrize("spec", ["existing", "existing/", "new/", "new/deeper/"])
def test_plan_directories(spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    plan = plan_outputs(spec, count=3, default_dir=tmp_path / "default")
    assert plan.directory == Path(spec)
    assert plan.template == DEFAULT_TEMPLATE
    assert plan.requested_format is None


@pytest.mark.parametrize(
    ("spec", "count", "directory", "template", "requested", "name"),
    [
        ("fox.png", 1, ".", "fox.png", "png", "fox.png"),
        ("fox.png", 3, ".", "fox-{index}.png", "png", "fox-2.png"),
        ("out/fox.JPG", 1, "out", "fox.JPG", "jpeg", "fox.png"),  # the image is a PNG
        ("fox", 2, ".", "fox-{index}", None, "fox-2.png"),
        ("fox.v2", 1, ".", "fox.v2", None, "fox.v2.png"),
        ("we}ird.png", 1, ".", "we}}ird.png", "png", "we}ird.png"),
        ("-rf.png", 1, ".", "-rf.png", "png", "rf.png"),
        ("out/{seed}.{ext}", 3, "out", "{seed}.{ext}", None, "42.png"),
        ("out/{seed}.webp", 1, "out", "{seed}.webp", "webp", "42.png"),
        ("/abs/dir/{id}", 1, "/abs/dir", "{id}", None, "gen-123.png"),
        ("a b/c d.png", 1, "a b", "c d.png", "png", "c d.png"),
    ],
)
def test_plan_files_and_templates(
    spec: str,
    count: int,
    directory: str,
    template: str,
    requested: str | None,
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    plan = plan_outputs(spec, count=count, default_dir=tmp_path / "default")
    assert plan == OutputPlan(Path(directory), template, requested)
    assert plan.name_for(FIELDS) == name


def test_plan_name_follows_the_real_format(tmp_path: Path) -> None:
    plan = plan_outputs(str(tmp_path / "fox.png"), count=1, default_dir=tmp_path)
    jpeg_fields = NameFields(FIELDS.when, FIELDS.model, FIELDS.seed, FIELDS.prompt, fmt="jpeg")
    assert plan.name_for(jpeg_fields) == "fox.jpg"
    assert plan.requested_format == "png"


def test_plan_expands_home(tmp_path: Path) -> None:
    plan = plan_outputs("~/pics/fox.png", count=1, default_dir=tmp_path)
    assert plan.directory == Path.home() / "pics"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("a\x00b.png", "NUL"),
        ("out/{model}/{seed}.png", "only the file name"),
        ("{seed}/", "only allowed in the file name"),
        ("fox.gif", "not GIF"),
        ("out/fox.TIFF", "not TIFF"),
        ("{bogus}.png", "unknown field {bogus}"),
        ("{seed", "bad output name template"),
    ],
)
def test_plan_refusals(spec: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("}", r"\}")):
        plan_outputs(spec, count=1, default_dir=tmp_path)


def test_plan_count_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="count"):
        plan_outputs(None, count=0, default_dir=tmp_path)
