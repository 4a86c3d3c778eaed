"""A mutation corpus over image decoding (issue 7 item 4, docs/reliability.md#test-volumes).

10 valid seeds (PNG, JPEG, WebP) × 100 deterministic mutations (byte flips, truncation, chunk-length
tampering, trailing garbage) = 1,000 cases, each through
(a) the output path: `OpenRouterClient.generate` answering with the case as `b64_json`: a result or
    BadResponseError (exit 10), nothing else;
(b) the input path: `inputs.prepare` / `load_references`: a reference or a UsageError (exit 2)
    naming the input.
All 1,000 run in every profile: the whole corpus takes a few seconds.
"""

from __future__ import annotations

import base64
import io
import random
from functools import cache
from pathlib import Path

import httpx
import pytest
from PIL import Image

from flux_cli.credentials import ApiKey
from flux_cli.errors import UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.inputs import Reference, load_references, prepare
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.openrouter.wire import ImageRequest
from tests.conftest import CANARY_KEY

SEED = 20260907
MUTATIONS_PER_SEED = 100


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    image = Image.linear_gradient("L").resize(size)
    if mode == "L":
        return image
    across = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize(size)
    rgb = Image.merge("RGB", (image, across, Image.new("L", size, 90)))
    return rgb.convert(mode)


@cache
def seeds() -> tuple[tuple[str, bytes], ...]:
    """Ten valid files: small and larger, each format, alpha, palette, grey, progressive."""
    rgba = _gradient((64, 64), "RGBA")
    return (
        ("png-rgb", _encode(_gradient((96, 64)), "PNG")),
        ("png-rgba", _encode(rgba, "PNG")),
        ("png-palette", _encode(_gradient((64, 80)).convert("P"), "PNG")),
        ("png-512", _encode(_gradient((512, 512)), "PNG")),
        ("jpeg-rgb", _encode(_gradient((96, 64)), "JPEG", quality=85)),
        ("jpeg-grey-progressive", _encode(_gradient((80, 64), "L"), "JPEG", progressive=True)),
        ("jpeg-512", _encode(_gradient((512, 384)), "JPEG")),
        ("webp-lossy", _encode(_gradient((96, 64)), "WEBP", quality=80)),
        ("webp-lossless-alpha", _encode(rgba, "WEBP", lossless=True)),
        ("webp-256", _encode(_gradient((256, 256)), "WEBP")),
    )


def _length_fields(data: bytes) -> list[tuple[int, int, str]]:
    """(offset, width, byte order) of every chunk or segment length field in the file."""
    fields: list[tuple[int, int, str]] = []
    if data.startswith(b"\x89PNG"):
        pos = 8
        while pos + 8 <= len(data):
            fields.append((pos, 4, "big"))
            pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    elif data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xD9, 0xDA):
            fields.append((pos + 2, 2, "big"))
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    elif data.startswith(b"RIFF"):
        fields.append((4, 4, "little"))
        pos = 12
        while pos + 8 <= len(data):
            fields.append((pos + 4, 4, "little"))
            size = int.from_bytes(data[pos + 4 : pos + 8], "little")
            pos += 8 + size + (size & 1)
    return fields


def mutate(data: bytes, rng: random.Random, kind: int) -> bytes:
    buf = bytearray(data)
    if kind == 0:  # byte flips
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= rng.randint(1, 255)
    elif kind == 1:  # truncation at a random offset
        del buf[rng.randrange(1, len(buf)) :]
    elif kind == 2:  # chunk-length tampering
        offset, width, order = rng.choice(_length_fields(data))
        value = rng.choice(
            [0, 1, 2 ** (8 * width) - 1, 2 ** (8 * width - 1), rng.randrange(2 ** (8 * width))]
        )
        buf[offset : offset + width] = value.to_bytes(width, "big" if order == "big" else "little")
    else:  # trailing garbage, sometimes a second image's worth
        buf += rng.choice([bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))), data])
    return bytes(buf)


@cache
def corpus() -> tuple[tuple[str, bytes], ...]:
    rng = random.Random(SEED)
    cases = []
    for name, data in seeds():
        for i in range(MUTATIONS_PER_SEED):
            cases.append((f"{name}-{i:03d}", mutate(data, rng, i % 4)))
    return tuple(cases)


def _selected() -> list[tuple[str, bytes]]:
    return list(corpus())


def test_the_corpus_is_deterministic_and_complete() -> None:
    assert len(corpus()) == 1000
    assert len({name for name, _ in corpus()}) == 1000
    rng = random.Random(SEED)
    first_name, first = seeds()[0]
    assert corpus()[0] == (f"{first_name}-000", mutate(first, rng, 0))
    for _, data in seeds():  # the seeds themselves are valid both ways
        prepare(data, "seed")


def test_output_path_gives_an_image_or_exit_10() -> None:
    outcomes = {"ok": 0, "bad": 0}
    failures: list[tuple[str, int, int | None]] = []
    current: list[bytes] = [b""]

    def handler(request: httpx.Request) -> httpx.Response:
        b64 = base64.b64encode(current[0]).decode()
        return httpx.Response(
            200,
            content=(
                f'{{"data":[{{"b64_json":"{b64}","media_type":"image/png"}}],'
                '"usage":{"cost":0.03}}'
            ).encode(),
            headers={"content-type": "application/json", "x-generation-id": "gen-fuzz"},
        )

    request = ImageRequest(model="black-forest-labs/flux.2-pro", prompt="a fox")
    with OpenRouterClient(
        "https://openrouter.test/api/v1",
        ApiKey(CANARY_KEY, "test"),
        transport=httpx.MockTransport(handler),
        sleep=lambda _: None,
    ) as client:
        for name, data in _selected():
            current[0] = data
            try:
                result = client.generate(request)
            except E.BadResponseError as exc:
                failures.append((name, int(exc.exit_code), exc.cost_micros))
                outcomes["bad"] += 1
            except BaseException as exc:
                pytest.fail(f"{name}: {type(exc).__name__}: {exc}")
            else:
                assert data.startswith(result.data), name  # the original bytes, maybe trimmed
                outcomes["ok"] += 1
    assert outcomes["bad"] > 0, outcomes
    assert outcomes["ok"] > 0, outcomes
    # exit 10, and the charge the answer reported is still carried for the ledger
    assert [f for f in failures if f[1:] != (ExitCode.BAD_RESPONSE.value, 30_000)] == []


def test_input_path_gives_a_reference_or_exit_2_naming_the_input(tmp_path: Path) -> None:
    wrong: list[tuple[str, int, str]] = []
    for index, (name, data) in enumerate(_selected()):
        source = f"ref-{name}.img"
        try:
            if index % 10 == 0:  # through load_references and a real file
                path = tmp_path / source
                path.write_bytes(data)
                reference: Reference = load_references([str(path)], stdin=None)[0]
            else:
                reference = prepare(data, source)
        except UsageError as exc:
            if exc.exit_code != ExitCode.USAGE or source not in str(exc):
                wrong.append((name, int(exc.exit_code), str(exc)))
        except BaseException as exc:
            pytest.fail(f"{name}: {type(exc).__name__}: {exc}")
        else:
            assert reference.url.startswith("data:image/"), name
    assert wrong == []
