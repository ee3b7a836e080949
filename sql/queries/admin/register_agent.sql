INSERT INTO agents (project_id, name, agent_type, registered)
VALUES (%(project_id)s, %(name)s, %(agent_type)s, true)
ON CONFLICT (project_id, name) DO UPDATE SET registered = true
RETURNING id
