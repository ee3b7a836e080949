-- Insert a batch of heartbeats into one plan's table in one statement: the raw-insert
-- baseline of benchmarks/ingest_bench.py. The server writes through write_heartbeats.sql,
-- which adds the sequence check and the agents' update. Every parameter is an array
-- with one element per row. Fingerprints travel as comma-joined hex strings
-- because unnest would flatten a two-dimensional array.
INSERT INTO {table} (
    time, project_id, agent_id, client_time, status, message, message_truncated,
    tokens_used, cost_usd, cost_source, tool_calls, iteration_count, memory_mb,
    input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
    llm_calls, unpriced_calls, unknown_usage_calls, usage, fingerprints,
    instance_id, seq, source
)
SELECT time, project_id, agent_id, client_time, status, message, message_truncated,
       tokens_used, cost_usd, cost_source, tool_calls, iteration_count, memory_mb,
       input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
       llm_calls, unpriced_calls, unknown_usage_calls, usage::jsonb,
       string_to_array(fingerprints, ','), instance_id, seq, source
FROM unnest(
    %(time)s::timestamptz[], %(project_id)s::bigint[], %(agent_id)s::bigint[],
    %(client_time)s::timestamptz[], %(status)s::text[], %(message)s::text[],
    %(message_truncated)s::boolean[], %(tokens_used)s::bigint[],
    %(cost_usd)s::double precision[], %(cost_source)s::text[], %(tool_calls)s::integer[],
    %(iteration_count)s::bigint[], %(memory_mb)s::double precision[],
    %(input_tokens)s::bigint[], %(output_tokens)s::bigint[], %(cached_tokens)s::bigint[],
    %(cache_write_tokens)s::bigint[], %(reasoning_tokens)s::bigint[],
    %(llm_calls)s::integer[], %(unpriced_calls)s::integer[],
    %(unknown_usage_calls)s::integer[], %(usage)s::text[], %(fingerprints)s::text[],
    %(instance_id)s::text[], %(seq)s::bigint[], %(source)s::text[]
) AS u (
    time, project_id, agent_id, client_time, status, message, message_truncated,
    tokens_used, cost_usd, cost_source, tool_calls, iteration_count, memory_mb,
    input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
    llm_calls, unpriced_calls, unknown_usage_calls, usage, fingerprints,
    instance_id, seq, source
)
