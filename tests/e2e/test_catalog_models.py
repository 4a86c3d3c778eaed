"""Every model of the recorded catalog, driven through the installed `flux2` against the sandbox:
`models`, `generate`, `edit` where the model takes references, and `cost`, with exit codes,
ledger rows and paid-request counts (docs/openrouter.md#image-catalog)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from flux_cli.ledger import Ledger
from flux_cli.pricing import usd_to_micros
from flux_cli.sandbox import Sandbox
from flux_cli.sandbox.catalog import SANDBOX_MODELS, SandboxModel
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e

RASTER = {"png", "jpeg", "webp"}


def _paid(sandbox: Sandbox) -> int:
    return len(sandbox.ledger.generations())


def _rows(sandbox: Sandbox) -> list:  # type: ignore[type-arg]
    with Ledger.open() as ledger:
        return ledger.rows(sandbox.base_url)


def _writes_images(model: SandboxModel) -> bool:
    return not model.output_formats or bool(RASTER & set(model.output_formats))


def _ids(model: SandboxModel) -> str:
    return model.id


def test_models_lists_the_whole_catalog(flux2: Flux2) -> None:
    result = flux2("models", "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    listed = [json.loads(line) for line in result.out.splitlines()]
    assert {m["id"] for m in listed} == {m.id for m in SANDBOX_MODELS}
    for record in listed:
        model = next(m for m in SANDBOX_MODELS if m.id == record["id"])
        assert record["resolutions"] == list(model.resolutions)
        assert record["seed"] is model.takes_seed
        assert record["max_references"] == model.max_references
        assert record["price_unit"] == model.price.unit


@pytest.mark.parametrize("model", SANDBOX_MODELS, ids=_ids)
def test_generate_with_every_model(flux2: Flux2, sandbox: Sandbox, model: SandboxModel) -> None:
    result = flux2("generate", "a lighthouse at dusk", "-m", model.id, "--json")
    result.assert_clean()
    if not _writes_images(model):
        # svg-only: refused before anything is sent, never paid for and thrown away.
        assert result.returncode == 2, result.stderr
        assert "svg" in result.stderr
        assert _paid(sandbox) == 0
        assert _rows(sandbox) == []
        return
    if model.reference_range[0] > 0:
        assert result.returncode == 2, result.stderr
        assert "reference" in result.stderr
        assert _paid(sandbox) == 0
        return
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert _paid(sandbox) == 1
    (row,) = _rows(sandbox)
    assert row.status == "ok"
    assert row.model == model.id
    # The estimate is the charge: client and sandbox price from the same lines.
    assert row.charged_micros == row.estimate_micros == usd_to_micros(str(record["charged_usd"]))
    (generation,) = sandbox.ledger.generations()
    assert row.generation_id == generation.id
    body = next(r.body for r in sandbox.requests if r.path.endswith("/images"))
    assert ("seed" in body) is model.takes_seed  # never a seed the model does not take
    assert ("n" in body) is (model.n_range is not None)
    with Image.open(Path(flux2.cwd) / record["path"]) as image:
        assert image.size == (generation.width, generation.height)


@pytest.mark.parametrize(
    "model", [m for m in SANDBOX_MODELS if m.max_references and _writes_images(m)], ids=_ids
)
def test_edit_with_every_model_that_takes_references(
    flux2: Flux2, sandbox: Sandbox, workdir: Path, model: SandboxModel
) -> None:
    Image.new("RGB", (640, 480), (30, 90, 200)).save(workdir / "ref.png")
    result = flux2("edit", "make it night", "-i", "ref.png", "-m", model.id, "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    assert _paid(sandbox) == 1
    (row,) = _rows(sandbox)
    assert row.status == "ok"
    assert row.reference_count == 1
    assert row.charged_micros == row.estimate_micros
    (generation,) = sandbox.ledger.generations()
    assert generation.reference_sizes == ((640, 480),)


@pytest.mark.parametrize("model", SANDBOX_MODELS, ids=_ids)
def test_cost_of_every_model(flux2: Flux2, sandbox: Sandbox, model: SandboxModel) -> None:
    args = ["cost", "-m", model.id, "--refresh", "--json"]
    if model.resolutions:
        args += ["--resolution", model.resolutions[0]]
    result = flux2(*args)
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    record = json.loads(result.out)
    assert record["model"] == model.id
    assert record["price_unit"] == model.price.unit
    assert usd_to_micros(str(record["total_usd"])) > 0
    assert _paid(sandbox) == 0


def test_flux3_resolution_tiers_and_ratios(flux2: Flux2, sandbox: Sandbox) -> None:
    flux3 = "black-forest-labs/flux-3-image"
    result = flux2(
        "generate", "x", "-m", flux3, "--resolution", "1.5K", "--aspect-ratio", "7:5", "--json"
    )
    assert result.returncode == 0, result.stderr
    (generation,) = sandbox.ledger.generations()
    assert (generation.width, generation.height) == (1808, 1296)
    body = next(r.body for r in sandbox.requests if r.path.endswith("/images"))
    assert body["resolution"] == "1.5K"
    assert body["aspect_ratio"] == "7:5"
    assert "seed" not in body
    # 1808×1296 is 2.23 MP, billed as 3 at $0.04.
    assert json.loads(result.out)["charged_usd"] == 0.12


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--seed", "7"], "takes no seed"),
        (["--resolution", "8K"], "does not support resolution"),
        (["--aspect-ratio", "4:1"], "does not support aspect ratio"),
        (["--steps", "20"], "does not take --steps"),
    ],
)
def test_flags_the_model_does_not_take_are_refused_before_sending(
    flux2: Flux2, sandbox: Sandbox, args: list[str], says: str
) -> None:
    result = flux2("generate", "x", "-m", "black-forest-labs/flux-3-image", *args)
    result.assert_clean()
    assert result.returncode == 2
    assert says in result.stderr
    assert _paid(sandbox) == 0
    assert _rows(sandbox) == []


def test_too_many_references_for_the_model(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    for i in range(2):
        Image.new("RGB", (64, 64), (i, 0, 0)).save(workdir / f"r{i}.png")
    result = flux2("edit", "x", "-m", "krea/krea-2-medium", "-i", "r0.png", "-i", "r1.png")
    assert result.returncode == 2
    assert "at most 1 reference" in result.stderr
    assert _paid(sandbox) == 0
