-- Create the agents a heartbeat names for the first time (non-strict projects).
INSERT INTO agents (project_id, name, agent_type)
SELECT %(project_id)s, name, COALESCE(agent_type, 'generic')
FROM unnest(%(name)s::text[], %(agent_type)s::text[]) AS u (name, agent_type)
ON CONFLICT (project_id, name) DO NOTHING
