INSERT INTO agent_events (
    time, project_id, agent_id, type, severity, signal, value, threshold, message, details
)
SELECT %(now)s, u.project_id, u.agent_id, u.type, u.severity, u.signal, u.value,
       u.threshold, u.message, u.details::jsonb
FROM unnest(
    %(project_id)s::bigint[], %(agent_id)s::bigint[], %(type)s::text[], %(severity)s::text[],
    %(signal)s::text[], %(value)s::float8[], %(threshold)s::float8[], %(message)s::text[],
    %(details)s::text[]
) AS u (project_id, agent_id, type, severity, signal, value, threshold, message, details)
