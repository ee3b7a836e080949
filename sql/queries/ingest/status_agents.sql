-- One page of a project's enabled agents, with today's tokens and cost. "Today" starts
-- at midnight in the project's budget timezone.
SELECT a.id, a.name, a.status, a.status_reason, a.last_heartbeat_at, a.agent_type,
       COALESCE(t.tokens, 0)::bigint AS tokens_today,
       COALESCE(t.cost, 0)::double precision AS cost_usd_today
FROM agents AS a
LEFT JOIN LATERAL (
    SELECT sum(r.tokens_used) AS tokens, sum(r.cost_usd) AS cost
    FROM heartbeats_1m AS r
    WHERE r.agent_id = a.id
      AND r.bucket >= date_trunc('day', now() AT TIME ZONE %(timezone)s) AT TIME ZONE %(timezone)s
) AS t ON true
WHERE a.project_id = %(project_id)s AND a.enabled
ORDER BY a.name
LIMIT %(limit)s OFFSET %(offset)s
