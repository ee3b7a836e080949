-- Parameters: project_id, agent_id, status, trace_id, message, event_id, command_id.
INSERT INTO langfuse_deliveries
       (project_id, agent_id, status, trace_id, message, event_id, command_id)
VALUES (%(project_id)s, %(agent_id)s, %(status)s, %(trace_id)s, %(message)s,
        %(event_id)s, %(command_id)s)
RETURNING id
