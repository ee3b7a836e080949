SELECT name, id, registered
FROM agents
WHERE project_id = %(project_id)s AND name = ANY(%(name)s::text[])
