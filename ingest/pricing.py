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
    """Sum the token counts and the cost of every entry that has a known price.

    Entries of the same provider and model are added up and priced once: a price
    calculation costs about 75 µs, and a heartbeat may carry 100 entries.
    """
    cost: float | None = None
    unpriced = 0
    for entry in _merged(entries):
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


def _merged(entries: list[ModelUsage]) -> list[ModelUsage]:
    """Return one entry per provider and model, with the counts of all its entries added."""
    groups: dict[tuple[str | None, str], list[ModelUsage]] = {}
    for entry in entries:
        groups.setdefault((entry.provider, entry.model), []).append(entry)
    merged = []
    for (provider, model), group in groups.items():
        if len(group) == 1:
            merged.append(group[0])
            continue
        # The parts are validated already, and sums of valid counts need no check.
        merged.append(
            ModelUsage.model_construct(
                provider=provider,
                model=model,
                **{field: sum(getattr(e, field) for e in group) for field in _COUNTS},
            )
        )
    return merged


_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "calls",
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
