-- Set or clear the warning that ingest returns in every heartbeat response.
UPDATE agents AS a
SET warning = u.warning::jsonb
FROM unnest(%(agent_id)s::bigint[], %(warning)s::text[]) AS u (agent_id, warning)
WHERE a.id = u.agent_id AND a.warning IS DISTINCT FROM u.warning::jsonb
