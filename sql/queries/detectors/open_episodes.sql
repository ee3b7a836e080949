-- Open episodes. An episode of the same kind that is already open wins, and the rows
-- returned are only the episodes this statement opened.
INSERT INTO detector_episodes (
    project_id, agent_id, kind, signal, value, threshold, details, started_at, last_seen_at
)
SELECT u.project_id, u.agent_id, u.kind, u.signal, u.value, u.threshold, u.details::jsonb,
       %(now)s, %(now)s
FROM unnest(
    %(project_id)s::bigint[], %(agent_id)s::bigint[], %(kind)s::text[], %(signal)s::text[],
    %(value)s::float8[], %(threshold)s::float8[], %(details)s::text[]
) AS u (project_id, agent_id, kind, signal, value, threshold, details)
ON CONFLICT (project_id, (COALESCE(agent_id, 0)), kind) WHERE ended_at IS NULL DO NOTHING
RETURNING id, project_id, agent_id, kind
