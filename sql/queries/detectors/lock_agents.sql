-- Lock the agents a cycle writes to in id order, the order ingest's batches should also
-- use, so that the two never wait on each other in a cycle.
SELECT id FROM agents WHERE id = ANY (%(agent_id)s::bigint[]) ORDER BY id FOR NO KEY UPDATE
