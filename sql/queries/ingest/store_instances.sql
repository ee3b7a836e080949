INSERT INTO agent_instances (agent_id, instance_id, last_seq, last_seen)
SELECT agent_id, instance_id, last_seq, now()
FROM unnest(%(agent_id)s::bigint[], %(instance_id)s::text[], %(last_seq)s::bigint[])
  AS u (agent_id, instance_id, last_seq)
ON CONFLICT (agent_id, instance_id) DO UPDATE
SET last_seq = GREATEST(agent_instances.last_seq, EXCLUDED.last_seq),
    last_seen = EXCLUDED.last_seen
