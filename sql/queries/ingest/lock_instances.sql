-- The highest stored sequence number of each (agent, SDK instance), locked until commit
-- so that two writers cannot both accept the same retried heartbeat.
SELECT s.agent_id, s.instance_id, s.last_seq
FROM agent_instances AS s
JOIN unnest(%(agent_id)s::bigint[], %(instance_id)s::text[]) AS k (agent_id, instance_id)
  USING (agent_id, instance_id)
FOR UPDATE OF s
