{name} AS (
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
           llm_calls, unpriced_calls, unknown_usage_calls, usage, fingerprints,
           instance_id, seq, source
    FROM judged
    WHERE NOT duplicate AND heartbeats_table = {table_name}
)
