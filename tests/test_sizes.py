from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux_cli.embedded_catalog import ASPECT_RATIO_SIZES, FLUX2_ASPECT_RATIOS
from flux_cli.pricing import MEGAPIXEL, billed_megapixels
from flux_cli.sizes import (
    SizeError,
    fit_within,
    nearest_aspect_ratio,
    output_size,
    parse_size,
)


def test_every_aspect_ratio_is_about_one_megapixel_on_the_grid() -> None:
    for ratio in FLUX2_ASPECT_RATIOS:
        w, h = ASPECT_RATIO_SIZES[ratio]
        assert w % 16 == 0
        assert h % 16 == 0
        assert 0.9 * MEGAPIXEL < w * h <= MEGAPIXEL
        assert billed_megapixels(w, h) == 1


@pytest.mark.parametrize(
    ("text", "size"), [("1024x768", (1024, 768)), ("2048X2048", (2048, 2048)), ("64×64", (64, 64))]
)
def test_parse_size(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1000x1000", "multiple of 16"),
        ("32x1024", "at least 64"),
        ("2064x2048", "4 megapixel"),
        ("big", "WIDTHxHEIGHT"),
        ("1024x", "WIDTHxHEIGHT"),
        ("-16x64", "WIDTHxHEIGHT"),
    ],
)
def test_parse_size_refuses(text: str, why: str) -> None:
    with pytest.raises(SizeError, match=why):
        parse_size(text)


def test_output_size_rules() -> None:
    assert output_size(None) == (1024, 1024)
    assert output_size("16:9") == (1344, 768)
    assert output_size("21:9", explicit=(2048, 2048)) == (2048, 2048)
    assert output_size(None, references=[(4000, 3000)]) == fit_within(4000, 3000)
    assert output_size("1:1", references=[(4000, 3000)]) == (1024, 1024)
    with pytest.raises(SizeError):
        output_size("7:5")


@given(st.integers(1, 20000), st.integers(1, 20000), st.integers(MEGAPIXEL // 4, 4 * MEGAPIXEL))
def test_fit_within_respects_grid_and_cap(w: int, h: int, cap: int) -> None:
    fw, fh = fit_within(w, h, cap)
    assert fw % 16 == 0
    assert fh % 16 == 0
    assert fw >= 64
    assert fh >= 64
    assert fw * fh <= cap


@pytest.mark.parametrize(
    ("size", "ratio"),
    [((2048, 2048), "1:1"), ((1920, 1080), "16:9"), ((2048, 864), "21:9"), ((768, 1024), "3:4")],
)
def test_nearest_aspect_ratio(size: tuple[int, int], ratio: str) -> None:
    assert nearest_aspect_ratio(*size, FLUX2_ASPECT_RATIOS) == ratio


def test_one_rule_for_the_largest_side_before_sending_and_in_the_answer() -> None:
    from flux_cli import images
    from flux_cli.sizes import MAX_SIDE, SizeError, fit_within, parse_size

    assert images.MAX_SIDE == MAX_SIDE  # the answer check holds images to the same bound
    with pytest.raises(SizeError, match="at most 8192"):
        parse_size("16384x64")  # 1 MP, but a side the answer check would refuse
    width, height = fit_within(9000, 100)  # a very wide reference, at up to 1 MP
    assert width <= MAX_SIDE
    assert height >= 64
    assert width % 16 == 0
    assert height % 16 == 0
    assert (width, height) == (8192, 80)
