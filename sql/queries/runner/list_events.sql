-- The project's runner events, newest first. Parameters: project_id, agent (or NULL),
-- type (or NULL), limit.
SELECT e.id, e.time, a.name AS agent, e.type, e.severity, e.message, e.details
FROM agent_events e
JOIN agents a ON a.id = e.agent_id
WHERE e.project_id = %(project_id)s
  AND e.details ->> 'source' = 'runner'
  AND (%(agent)s::text IS NULL OR a.name = %(agent)s)
  AND (%(type)s::text IS NULL OR e.type = %(type)s)
ORDER BY e.time DESC, e.id DESC
LIMIT %(limit)s
