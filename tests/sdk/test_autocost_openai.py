"""auto_cost with the real openai library against the local vendor stand-in."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import openai
import pytest
from conftest import captured, usage_of
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from vendor_standin import Tokens, VendorStandIn

import clevagent

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def client(vendor: VendorStandIn, closed_endpoint: str) -> Iterator[OpenAI]:
    clevagent.init(api_key="cv_test", agent="openai-agent", endpoint=closed_endpoint,
                   interval=3600)
    with OpenAI(api_key="sk-test", base_url=vendor.openai_url, max_retries=0) as client:
        yield client


@pytest.fixture
def async_client(vendor: VendorStandIn, closed_endpoint: str) -> Callable[[], AsyncOpenAI]:
    """Return a factory: an async client must be made and closed inside its event loop."""
    clevagent.init(api_key="cv_test", agent="openai-agent", endpoint=closed_endpoint,
                   interval=3600)
    return lambda: AsyncOpenAI(api_key="sk-test", base_url=vendor.openai_url, max_retries=0)


def test_chat_completion_usage_and_type(client: OpenAI, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=1200, output=300, cached=1000, reasoning=120)

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert type(completion) is ChatCompletion
    assert completion.choices[0].message.content == "Hello there"
    fields = captured()
    assert usage_of(fields, "gpt-4o-mini") == {
        "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1200,
        "output_tokens": 300, "cached_tokens": 1000, "cache_write_tokens": 0,
        "reasoning_tokens": 120, "calls": 1,
    }
    assert fields["tokens_used"] == 1500
    assert "cost_usd" not in fields


def test_chat_calls_to_one_model_add_up(client: OpenAI) -> None:
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    row = usage_of(captured(), "gpt-4o-mini")
    assert row["calls"] == 3
    assert row["input_tokens"] == 300
    assert row["output_tokens"] == 60


def test_chat_stream_with_include_usage(client: OpenAI, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=50, output=7)

    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert type(stream) is openai.Stream
    assert all(type(chunk) is ChatCompletionChunk for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    row = usage_of(captured(), "gpt-4o-mini")
    assert (row["input_tokens"], row["output_tokens"], row["calls"]) == (50, 7, 1)


def test_chat_stream_without_usage_counts_unknown(client: OpenAI) -> None:
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                        stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert text == "Hello there"
    fields = captured()
    assert fields["unknown_usage_calls"] == 1
    assert "usage" not in fields
    assert fields["tokens_used"] == 0


def test_chat_stream_cut_midway_raises_as_before(client: OpenAI,
                                                 vendor: VendorStandIn) -> None:
    vendor.scenario = "cut"
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True},
    )

    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            pass

    assert captured()["unknown_usage_calls"] == 1


def test_chat_stream_abandoned_counts_unknown(client: OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                            stream=True,
                                            stream_options={"include_usage": True})
    next(iter(stream))
    stream.close()

    assert captured()["unknown_usage_calls"] == 1


def test_chat_stream_dropped_unread_counts_unknown(client: OpenAI) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                            stream=True)
    del stream
    gc.collect()

    assert captured()["unknown_usage_calls"] == 1


def test_chat_stream_helper(client: OpenAI, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=40, output=4)

    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()

    assert final.choices[0].message.content == "Hello there"
    row = usage_of(captured(), "gpt-4o-mini")
    assert (row["input_tokens"], row["output_tokens"]) == (40, 4)


def test_chat_with_raw_response(client: OpenAI, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=30, output=3)

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                          messages=MESSAGES)

    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == "Hello there"
    row = usage_of(captured(), "gpt-4o-mini")
    assert (row["input_tokens"], row["output_tokens"], row["calls"]) == (30, 3, 1)


def test_chat_without_usage_counts_unknown(client: OpenAI, vendor: VendorStandIn) -> None:
    vendor.scenario = "no_usage"

    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.usage is None
    assert captured()["unknown_usage_calls"] == 1


def test_vendor_error_is_unchanged(client: OpenAI) -> None:
    base_url = client.base_url.join("/nowhere")

    with OpenAI(api_key="sk-test", base_url=base_url, max_retries=0) as bad:
        with pytest.raises(openai.NotFoundError):
            bad.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert captured().get("unknown_usage_calls") is None


def test_responses_api_plain_and_stream(client: OpenAI, vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=900, output=100, cached=800, reasoning=60)

    response = client.responses.create(model="gpt-4.1-mini", input="Say hello")
    with client.responses.create(model="gpt-4.1-mini", input="Say hello",
                                 stream=True) as stream:
        events = [event.type for event in stream]

    assert type(response) is Response
    assert response.output_text == "Hello there"
    assert events[-1] == "response.completed"
    row = usage_of(captured(), "gpt-4.1-mini")
    assert row == {"provider": "openai", "model": "gpt-4.1-mini", "input_tokens": 1800,
                   "output_tokens": 200, "cached_tokens": 1600, "cache_write_tokens": 0,
                   "reasoning_tokens": 120, "calls": 2}


def test_responses_stream_helper(client: OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1-mini", input="Say hello") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()

    assert final.output_text == "Hello there"
    assert usage_of(captured(), "gpt-4.1-mini")["calls"] == 1


def test_async_chat_plain_and_stream(async_client: Callable[[], AsyncOpenAI],
                                     vendor: VendorStandIn) -> None:
    vendor.tokens = Tokens(input=10, output=2)

    async def run() -> str:
        async with async_client() as client:
            completion = await client.chat.completions.create(model="gpt-4o-mini",
                                                              messages=MESSAGES)
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True,
                stream_options={"include_usage": True})
            assert type(stream) is openai.AsyncStream
            async for _ in stream:
                pass
        return completion.choices[0].message.content or ""

    assert asyncio.run(run()) == "Hello there"
    row = usage_of(captured(), "gpt-4o-mini")
    assert (row["input_tokens"], row["calls"]) == (20, 2)


def test_async_responses_stream_cut(async_client: Callable[[], AsyncOpenAI],
                                    vendor: VendorStandIn) -> None:
    vendor.scenario = "cut"

    async def run() -> None:
        async with async_client() as client:
            async with await client.responses.create(model="gpt-4.1-mini", input="x",
                                                     stream=True) as stream:
                async for _ in stream:
                    pass

    with pytest.raises(openai.APIConnectionError):
        asyncio.run(run())
    assert captured()["unknown_usage_calls"] == 1


def test_explicit_cost_wins_over_captured(client: OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    result = clevagent.log_cost(tokens=999, cost_usd=0.5)

    fields = captured()
    assert result == {"tokens": 999, "cost_usd": 0.5, "ok": True}
    assert fields["cost_usd"] == 0.5
    assert fields["tokens_used"] == 999
    assert usage_of(fields, "gpt-4o-mini")["calls"] == 1


def test_no_capture_when_auto_cost_is_off(vendor: VendorStandIn, closed_endpoint: str) -> None:
    clevagent.init(api_key="cv_test", agent="manual", endpoint=closed_endpoint,
                   interval=3600, auto_cost=False)
    # The wrapping from earlier tests stays installed, but captured usage goes nowhere
    # unless the current client asked for auto_cost.
    with OpenAI(api_key="sk-test", base_url=vendor.openai_url, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert "usage" not in captured()
