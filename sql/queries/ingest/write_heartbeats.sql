-- Store a group of heartbeats in one statement, so that a flush costs one round trip and
-- one implicit transaction whatever its size. The heartbeats arrive as one JSON array with
-- an object per heartbeat, whose keys are the column names below. A missing key is a
-- NULL, and `ord` numbers the heartbeats in arrival order. For the server, one JSON text
-- is far cheaper to encode than a binary array per column. `agent_ids` repeats the agents
-- as an array, so that the conditions on agent_id = ANY(...) let the planner use the
-- primary keys; a join with the input alone led it to scan every agent. The inserts
-- placeholder below becomes one INSERT (insert_heartbeats_cte.sql) per plan table the
-- group uses.
--
-- The steps, in order:
-- 1. Record the highest sequence number of each SDK instance, locking the instances in
--    key order, and learn the one stored before.
-- 2. Mark as duplicates the heartbeats whose sequence number is not above that, or
--    repeats an earlier one of this group.
-- 3. Insert the other heartbeats into their plan's table.
-- 4. Lock the agents in id order, as the detector cycle does, and record each agent's
--    liveness and the state its newest heartbeat that is not a duplicate reports.
WITH input AS (
    SELECT *
    FROM json_to_recordset(%(rows)s::json) AS u (
        ord integer, time timestamptz, project_id bigint, agent_id bigint,
        heartbeats_table text, client_time timestamptz, status text, message text,
        message_truncated boolean, tokens_used bigint, cost_usd double precision,
        cost_source text, tool_calls integer, iteration_count bigint,
        memory_mb double precision, input_tokens bigint, output_tokens bigint,
        cached_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint,
        llm_calls integer, unpriced_calls integer, unknown_usage_calls integer, usage jsonb,
        fingerprints text[], instance_id text, seq bigint, source text, agent_type text,
        busy_seconds double precision, busy_reason text, restart_type text,
        restart_target text
    )
),
sequences AS (
    -- ON CONFLICT DO UPDATE works on the newest committed row, even one committed after
    -- this statement started, and waits for a concurrent insert of the same key. So when
    -- two flushes carry the same retry, the second learns the first one's sequence number
    -- from previous_seq; a plain SELECT here would see neither.
    INSERT INTO agent_instances AS s (agent_id, instance_id, last_seq, last_seen)
    SELECT agent_id, instance_id, max(seq), now()
    FROM input
    WHERE instance_id IS NOT NULL AND seq IS NOT NULL
    GROUP BY agent_id, instance_id
    ORDER BY agent_id, instance_id
    ON CONFLICT (agent_id, instance_id) DO UPDATE
    SET previous_seq = s.last_seq,
        last_seq = GREATEST(s.last_seq, EXCLUDED.last_seq),
        last_seen = EXCLUDED.last_seen
    RETURNING s.agent_id, s.instance_id, s.previous_seq
),
judged AS (
    SELECT i.*,
           i.instance_id IS NOT NULL AND i.seq IS NOT NULL AND (
               coalesce(i.seq <= q.previous_seq, false)
               OR coalesce(i.seq <= max(i.seq) OVER (
                   PARTITION BY i.agent_id, i.instance_id ORDER BY i.ord
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)
           ) AS duplicate
    FROM input AS i
    LEFT JOIN sequences AS q ON q.agent_id = i.agent_id AND q.instance_id = i.instance_id
),
{inserts},
locked AS (
    -- The condition on `sequences` runs it (as an InitPlan) before the first agent is
    -- locked. So every flush locks SDK instances first and agents second, each in key
    -- order, whatever join order the planner picks: two flushes take their locks in the
    -- same order and so cannot deadlock on each other.
    SELECT id FROM agents
    WHERE id = ANY(%(agent_ids)b::bigint[]) AND (SELECT count(*) FROM sequences) >= 0
    ORDER BY id
    FOR NO KEY UPDATE
),
latest AS (
    -- One row per agent: when the group last heard from it, and the state its newest
    -- heartbeat that is not a duplicate reports. A duplicate is an old heartbeat sent
    -- again: it proves the agent alive, but the state it reports has been overtaken, so
    -- an agent with only duplicates here gets NULL state and keeps its own. (One CTE
    -- rather than two joined ones: the generic plan of a join ran a nested loop.)
    SELECT DISTINCT ON (agent_id)
           agent_id,
           max(time) OVER (PARTITION BY agent_id) AS seen_at,
           time,
           CASE WHEN NOT duplicate THEN status END AS status,
           CASE WHEN NOT duplicate THEN message END AS message,
           CASE WHEN NOT duplicate THEN iteration_count END AS iteration_count,
           CASE WHEN NOT duplicate THEN busy_seconds END AS busy_seconds,
           busy_reason,
           CASE WHEN NOT duplicate THEN agent_type END AS agent_type,
           CASE WHEN NOT duplicate THEN restart_type END AS restart_type,
           CASE WHEN NOT duplicate THEN restart_target END AS restart_target
    FROM judged
    ORDER BY agent_id, duplicate, ord DESC
),
updated AS (
    -- Liveness uses the server's receive time only. An agent's first heartbeat moves it
    -- out of "unknown"; every other status change is the detectors' work.
    UPDATE agents AS a SET
        last_heartbeat_at = GREATEST(a.last_heartbeat_at, u.seen_at),
        last_client_status = COALESCE(u.status, a.last_client_status),
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
        status_changed_at = CASE
            WHEN a.status = 'unknown' THEN u.seen_at ELSE a.status_changed_at END
    FROM latest AS u
    WHERE a.id = ANY(%(agent_ids)b::bigint[]) AND a.id = u.agent_id
      AND a.id IN (SELECT id FROM locked)
    RETURNING a.id, a.status, a.warning
)
SELECT j.ord, j.duplicate, u.status, u.warning
FROM judged AS j
LEFT JOIN updated AS u ON u.id = j.agent_id
ORDER BY j.ord
