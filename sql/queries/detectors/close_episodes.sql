-- End episodes; the rows returned are only the episodes this statement ended.
UPDATE detector_episodes AS e
SET ended_at = %(now)s
WHERE e.id = ANY (%(id)s::bigint[]) AND e.ended_at IS NULL
RETURNING e.id
