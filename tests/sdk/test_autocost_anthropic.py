"""auto_cost with the real anthropic library against the local vendor stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import anthropic
import pytest
from anthropic import Anthropic, AsyncAnthropic
from anthropic.types import Message
from conftest import captured, usage_of
from vendor_standin import Tokens, VendorStandIn

import clevagent

MODEL = "claude-3-5-haiku-latest"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def client(vendor: VendorStandIn, closed_endpoint: str) -> Iterator[Anthropic]:
    clevagent.init(api_key="cv_test", agent="anthropic-agent", endpoint=closed_endpoint,
                   interval=3600)
    with Anthropic(api_key="sk-ant-test", base_url=vendor.anthropic_url,
                   max_retries=0) as client:
        yield client


@pytest.fixture
def async_client(vendor: VendorStandIn, closed_endpoint: str) -> Callable[[], AsyncAnthropic]:
    clevagent.init(api_key="cv_test", agent="anthropic-agent", endpoint=closed_endpoint,
                   interval=3600)
    return lambda: AsyncAnthropic(api_key="sk-ant-test", base_url=vendor.anthropic_url,
                                  max_retries=0)


def test_message_with_heavy_cache_use(client: Anthropic, vendor: VendorStandIn) -> None:
    # Anthropic reports cache reads and writes beside input_tokens; on the wire they are
    # parts of input_tokens.
    vendor.tokens = Tokens(input=20, output=150, cached=50_000, cache_write=8_000)

    message = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)

    assert type(message) is Message
    assert message.content[0].text == "Hello there"  # type: ignore[union-attr]
    fields = captured()
    assert usage_of(fields, MODEL) == {
        "provider": "anthropic", "model": MODEL, "input_tokens": 58_020,
        "output_tokens": 150, "cached_tokens": 50_000, "cache_write_tokens": 8_000,
        "reasoning_tokens": 0, "calls": 1,
    }
    assert fields["tokens_used"] == 58_170


def test_stream_message_delta_is_cumulative(client: Anthropic, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=300, output=0, cached=1000, reasoning=12)
    vendor.anthropic_output_steps = [10, 25]

    stream = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES,
                                    stream=True)
    kinds = [event.type for event in stream]

    assert type(stream) is anthropic.Stream
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    row = usage_of(captured(), MODEL)
    assert row["output_tokens"] == 25
    assert row["input_tokens"] == 1300
    assert row["cached_tokens"] == 1000
    assert row["reasoning_tokens"] == 12


def test_messages_stream_helper(client: Anthropic, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=40, output=9)

    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Hello there"
    assert final.usage.output_tokens == 9
    row = usage_of(captured(), MODEL)
    assert (row["input_tokens"], row["output_tokens"], row["calls"]) == (40, 9, 1)


def test_with_raw_response(client: Anthropic, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=12, output=3)

    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=10,
                                                   messages=MESSAGES)

    assert raw.http_response.status_code == 200
    assert type(raw.parse()) is Message
    row = usage_of(captured(), MODEL)
    assert (row["input_tokens"], row["output_tokens"], row["calls"]) == (12, 3, 1)


def test_stream_cut_after_start_keeps_input(client: Anthropic, vendor: VendorStandIn) -> None:
    # message_start already carried the input side; only the output count is partial.
    vendor.scenario = "cut"
    vendor.tokens = Tokens(input=500, output=50)

    with pytest.raises(anthropic.APIConnectionError):
        for _ in client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES,
                                        stream=True):
            pass

    fields = captured()
    assert usage_of(fields, MODEL)["input_tokens"] == 500
    assert "unknown_usage_calls" not in fields


def test_stream_without_usage_counts_unknown(client: Anthropic, vendor: VendorStandIn) -> None:
    vendor.scenario = "no_usage"

    for _ in client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES,
                                    stream=True):
        pass

    fields = captured()
    assert fields["unknown_usage_calls"] == 1
    assert "usage" not in fields


def test_async_create_and_stream_helper(async_client: Callable[[], AsyncAnthropic],
                                        vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=7, output=5, cache_write=100)

    async def run() -> str:
        async with async_client() as client:
            message = await client.messages.create(model=MODEL, max_tokens=10,
                                                   messages=MESSAGES)
            async with client.messages.stream(model=MODEL, max_tokens=10,
                                              messages=MESSAGES) as stream:
                text = "".join([chunk async for chunk in stream.text_stream])
        assert type(message) is Message
        return text

    assert asyncio.run(run()) == "Hello there"
    row = usage_of(captured(), MODEL)
    assert row["calls"] == 2
    assert row["input_tokens"] == 2 * 107
    assert row["cache_write_tokens"] == 200


def test_vendor_error_is_unchanged(client: Anthropic, vendor: VendorStandIn) -> None:
    with Anthropic(api_key="sk-ant-test", base_url=vendor.anthropic_url + "/nowhere",
                   max_retries=0) as bad:
        with pytest.raises(anthropic.NotFoundError):
            bad.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)

    assert "unknown_usage_calls" not in captured()
