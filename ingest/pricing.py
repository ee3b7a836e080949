"""Server-side pricing of model-level token usage with the genai-prices tables.

Wire semantics (as in OpenAI's usage and genai-prices): input_tokens counts every input
token, cached_tokens (cache reads) and cache_write_tokens are parts of it, and
reasoning_tokens is part of output_tokens. A model the tables do not know is "unpriced":
it adds no cost and is counted, because $0 would hide real spend.
"""

import logging
from dataclasses import dataclass
from functools import lru_cache

from clevagent_server.ingest.models import ModelUsage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PricedUsage:
    cost_usd: float | None
    llm_calls: int
    unpriced_calls: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int


def price_usage(entries: list[ModelUsage]) -> PricedUsage:
    """Sum the token counts and the cost of every entry that has a known price."""
    cost: float | None = None
    unpriced = 0
    for entry in entries:
        entry_cost = _price_one(entry)
        if entry_cost is None:
            unpriced += entry.calls
        else:
            cost = (cost or 0.0) + entry_cost
    return PricedUsage(
        cost_usd=cost,
        llm_calls=sum(e.calls for e in entries),
        unpriced_calls=unpriced,
        input_tokens=sum(e.input_tokens for e in entries),
        output_tokens=sum(e.output_tokens for e in entries),
        cached_tokens=sum(e.cached_tokens for e in entries),
        cache_write_tokens=sum(e.cache_write_tokens for e in entries),
        reasoning_tokens=sum(e.reasoning_tokens for e in entries),
    )


def _price_one(entry: ModelUsage) -> float | None:
    if not _is_known(entry.provider, entry.model):
        return None
    from genai_prices import Usage, calc_price

    usage = Usage(
        input_tokens=entry.input_tokens,
        output_tokens=entry.output_tokens,
        cache_read_tokens=entry.cached_tokens or None,
        cache_write_tokens=entry.cache_write_tokens or None,
    )
    try:
        price = calc_price(usage, entry.model, provider_id=entry.provider)
    except (LookupError, ValueError) as error:
        logger.info("no price for model %s (provider %s): %s", entry.model, entry.provider, error)
        return None
    return float(price.total_price)


@lru_cache(maxsize=4096)
def _is_known(provider: str | None, model: str) -> bool:
    from genai_prices import Usage, calc_price

    try:
        calc_price(Usage(input_tokens=1), model, provider_id=provider)
    except (LookupError, ValueError):
        return False
    return True
