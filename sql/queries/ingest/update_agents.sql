-- Record the latest heartbeat of each agent (one row per agent) and return the status
-- and warning that the response carries. Liveness uses the server's receive time only.
-- An agent's first heartbeat moves it out of "unknown"; every other status change is
-- the detectors' work. The agents are locked in id order first, as the detector cycle
-- locks them, so that concurrent writers and the cycle cannot deadlock.
WITH locked AS (
    SELECT id FROM agents WHERE id = ANY(%(agent_id)s::bigint[]) ORDER BY id FOR NO KEY UPDATE
)
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
FROM unnest(
    %(agent_id)s::bigint[], %(time)s::timestamptz[], %(status)s::text[], %(message)s::text[],
    %(iteration_count)s::bigint[], %(busy_seconds)s::double precision[],
    %(busy_reason)s::text[], %(agent_type)s::text[], %(restart_type)s::text[],
    %(restart_target)s::text[]
) AS u (
    agent_id, time, status, message, iteration_count, busy_seconds, busy_reason,
    agent_type, restart_type, restart_target
)
WHERE a.id = u.agent_id AND a.id IN (SELECT id FROM locked)
RETURNING a.id, a.status, a.warning
