"""Server-side pricing with the real genai-prices tables."""

import pytest
from genai_prices import Usage, calc_price

from clevagent_server.ingest.models import ModelUsage
from clevagent_server.ingest.pricing import price_usage


def test_entries_of_one_model_are_priced_together() -> None:
    entries = [
        ModelUsage(
            provider="openai",
            model="gpt-4o",
            input_tokens=1000,
            output_tokens=200,
            cached_tokens=400,
            calls=2,
        ),
        ModelUsage(provider="unknown-lab", model="no-such-model", input_tokens=50, calls=3),
        ModelUsage(
            provider="openai",
            model="gpt-4o",
            input_tokens=500,
            output_tokens=100,
            reasoning_tokens=30,
            calls=1,
        ),
    ]
    expected = calc_price(
        Usage(input_tokens=1500, output_tokens=300, cache_read_tokens=400),
        "gpt-4o",
        provider_id="openai",
    )

    priced = price_usage(entries)

    assert priced.cost_usd == pytest.approx(float(expected.total_price))
    assert priced.llm_calls == 6
    assert priced.unpriced_calls == 3
    assert priced.input_tokens == 1550
    assert priced.output_tokens == 300
    assert priced.cached_tokens == 400
    assert priced.reasoning_tokens == 30


def test_only_unknown_models_leave_the_cost_unset() -> None:
    priced = price_usage([ModelUsage(model="no-such-model", input_tokens=10, calls=4)])

    assert priced.cost_usd is None
    assert priced.unpriced_calls == 4
