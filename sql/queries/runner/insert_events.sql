-- Store runner events, returning their ids in input order. Parameters: arrays of
-- project_id, agent_id, time, type, severity, message and details (JSON text).
INSERT INTO agent_events (time, project_id, agent_id, type, severity, message, details)
SELECT u.time, u.project_id, u.agent_id, u.type, u.severity, u.message, u.details::jsonb
FROM unnest(
    %(time)s::timestamptz[], %(project_id)s::bigint[], %(agent_id)s::bigint[],
    %(type)s::text[], %(severity)s::text[], %(message)s::text[], %(details)s::text[]
) WITH ORDINALITY AS u (time, project_id, agent_id, type, severity, message, details, position)
ORDER BY u.position
RETURNING id
