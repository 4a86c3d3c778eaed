"""The `usage-cost` fault: an answer whose `usage.cost` is any JSON text, charged as usual."""

from __future__ import annotations

import httpx
import pytest

from flux_cli.sandbox import Sandbox
from flux_cli.sandbox.faults import parse_fault_spec
from tests.sandbox.helpers import chat, generate


@pytest.mark.parametrize("cost", ["1e400", "NaN", "-5", '"lots"', "88329970"])
def test_the_images_answer_carries_the_text_verbatim_and_is_charged_as_usual(
    sandbox: Sandbox, client: httpx.Client, cost: str
) -> None:
    sandbox.add_fault_spec(f"images:usage-cost:cost={cost}")
    response = generate(client)
    assert response.status_code == 200
    assert f'"cost":{cost},'.encode() in response.content
    assert response.json(parse_constant=str)["data"][0]["b64_json"]
    (record,) = sandbox.ledger.generations()
    assert record.cost_micros == 30_000  # the real price, whatever the answer says
    assert generate(client).json()["usage"]["cost"] == 0.03  # once only


def test_the_chat_answer_and_its_stream_carry_it_too(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    sandbox.add_fault_spec("chat:usage-cost:cost=1e15")
    assert b'"cost":1e15,' in chat(client).content
    sandbox.add_fault_spec("chat:usage-cost:cost=1e15")
    streamed = chat(client, stream=True)
    assert b'"cost":1e15,' in streamed.content
    assert len(sandbox.ledger.generations()) == 2


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("images:usage-cost", "needs cost="),
        ("images:429:cost=1", "only it takes one"),
        ("models:usage-cost:cost=1", "applies only to"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_fault_spec(spec)


def test_the_spec_round_trips() -> None:
    _route, fault = parse_fault_spec("images:usage-cost:cost=1e400:times=2")
    assert fault.cost == "1e400"
    assert fault.times == 2
    assert fault.describe() == "usage-cost:cost=1e400"
    assert fault.to_json()["cost"] == "1e400"
