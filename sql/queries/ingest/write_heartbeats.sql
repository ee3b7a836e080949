-- Store a group of heartbeats in one statement, so that a flush costs one round trip and
-- one implicit transaction whatever its size. Every parameter is an array with one
-- element per heartbeat; `ord` numbers them in arrival order. The inserts placeholder
-- below becomes one INSERT (insert_heartbeats_cte.sql) per plan table the group uses.
--
-- The steps, in order:
-- 1. Find and lock the highest sequence number stored for each SDK instance.
-- 2. Mark as duplicates the heartbeats whose sequence number is not above it, or repeats
--    an earlier one of this group, and record the new maxima.
-- 3. Insert the other heartbeats into their plan's table.
-- 4. Lock the agents in id order, as the detector cycle does, and record each agent's
--    latest heartbeat.
-- Fingerprints travel as comma-joined hex strings, because unnest would flatten a
-- two-dimensional array. The conditions on agent_id = ANY(...) let the planner use the
-- primary keys; a join with the input alone led it to scan every agent.
WITH input AS (
    SELECT *
    FROM unnest(
        %(ord)b::integer[], %(time)b::timestamptz[], %(project_id)b::bigint[],
        %(agent_id)b::bigint[], %(heartbeats_table)b::text[], %(client_time)b::timestamptz[],
        %(status)b::text[], %(message)b::text[], %(message_truncated)b::boolean[],
        %(tokens_used)b::bigint[], %(cost_usd)b::double precision[], %(cost_source)b::text[],
        %(tool_calls)b::integer[], %(iteration_count)b::bigint[],
        %(memory_mb)b::double precision[], %(input_tokens)b::bigint[],
        %(output_tokens)b::bigint[], %(cached_tokens)b::bigint[],
        %(cache_write_tokens)b::bigint[], %(reasoning_tokens)b::bigint[],
        %(llm_calls)b::integer[], %(unpriced_calls)b::integer[],
        %(unknown_usage_calls)b::integer[], %(usage)b::text[], %(fingerprints)b::text[],
        %(instance_id)b::text[], %(seq)b::bigint[], %(source)b::text[],
        %(agent_type)b::text[], %(busy_seconds)b::double precision[],
        %(busy_reason)b::text[], %(restart_type)b::text[], %(restart_target)b::text[]
    ) AS u (
        ord, time, project_id, agent_id, heartbeats_table, client_time, status, message,
        message_truncated, tokens_used, cost_usd, cost_source, tool_calls, iteration_count,
        memory_mb, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
        reasoning_tokens, llm_calls, unpriced_calls, unknown_usage_calls, usage,
        fingerprints, instance_id, seq, source, agent_type, busy_seconds, busy_reason,
        restart_type, restart_target
    )
),
previous AS (
    SELECT s.agent_id, s.instance_id, s.last_seq
    FROM agent_instances AS s
    WHERE s.agent_id = ANY(%(agent_id)b::bigint[])
      AND (s.agent_id, s.instance_id) IN (
          SELECT agent_id, instance_id FROM input WHERE instance_id IS NOT NULL AND seq IS NOT NULL
      )
    ORDER BY s.agent_id, s.instance_id
    FOR UPDATE
),
judged AS (
    SELECT i.*,
           i.instance_id IS NOT NULL AND i.seq IS NOT NULL AND (
               coalesce(i.seq <= p.last_seq, false)
               OR coalesce(i.seq <= max(i.seq) OVER (
                   PARTITION BY i.agent_id, i.instance_id ORDER BY i.ord
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)
           ) AS duplicate
    FROM input AS i
    LEFT JOIN previous AS p ON p.agent_id = i.agent_id AND p.instance_id = i.instance_id
),
sequences AS (
    INSERT INTO agent_instances (agent_id, instance_id, last_seq, last_seen)
    SELECT agent_id, instance_id, max(seq), now()
    FROM input
    WHERE instance_id IS NOT NULL AND seq IS NOT NULL
    GROUP BY agent_id, instance_id
    ON CONFLICT (agent_id, instance_id) DO UPDATE
    SET last_seq = GREATEST(agent_instances.last_seq, EXCLUDED.last_seq),
        last_seen = EXCLUDED.last_seen
),
{inserts},
locked AS (
    -- The condition on `previous` runs it (as an InitPlan) before the first agent is
    -- locked. So every flush locks SDK instances first and agents second, whatever join
    -- order the planner picks, and concurrent flushes cannot deadlock.
    SELECT id FROM agents
    WHERE id = ANY(%(agent_id)b::bigint[]) AND (SELECT count(*) FROM previous) >= 0
    ORDER BY id
    FOR NO KEY UPDATE
),
latest AS (
    SELECT DISTINCT ON (agent_id) * FROM input ORDER BY agent_id, ord DESC
),
updated AS (
    -- Liveness uses the server's receive time only. An agent's first heartbeat moves it
    -- out of "unknown"; every other status change is the detectors' work.
    UPDATE agents AS a SET
        last_heartbeat_at = GREATEST(a.last_heartbeat_at, u.time),
        last_client_status = u.status,
        last_message = COALESCE(u.message, a.last_message),
        last_iteration_changed_at = CASE
            WHEN u.iteration_count IS NOT NULL AND u.iteration_count IS DISTINCT FROM a.last_iteration
            THEN u.time ELSE a.last_iteration_changed_at END,
        last_iteration = COALESCE(u.iteration_count, a.last_iteration),
        busy_until = CASE
            WHEN u.busy_seconds IS NULL THEN a.busy_until
            WHEN u.busy_seconds = 0 THEN NULL
            ELSE u.time + make_interval(secs => u.busy_seconds) END,
        busy_reason = CASE
            WHEN u.busy_seconds IS NULL THEN a.busy_reason
            WHEN u.busy_seconds = 0 THEN NULL
            ELSE u.busy_reason END,
        agent_type = COALESCE(u.agent_type, a.agent_type),
        restart_type = COALESCE(u.restart_type, a.restart_type),
        restart_target = COALESCE(u.restart_target, a.restart_target),
        status = CASE
            WHEN a.status <> 'unknown' THEN a.status
            WHEN u.status IN ('warning', 'error') THEN 'degraded'
            ELSE 'healthy' END,
        status_changed_at = CASE WHEN a.status = 'unknown' THEN u.time ELSE a.status_changed_at END
    FROM latest AS u
    WHERE a.id = ANY(%(agent_id)b::bigint[]) AND a.id = u.agent_id
      AND a.id IN (SELECT id FROM locked)
    RETURNING a.id, a.status, a.warning
)
SELECT j.ord, j.duplicate, u.status, u.warning
FROM judged AS j
LEFT JOIN updated AS u ON u.id = j.agent_id
ORDER BY j.ord
