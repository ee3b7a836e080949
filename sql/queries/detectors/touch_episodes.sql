-- Record that open episodes are still going, with their latest value.
UPDATE detector_episodes AS e
SET last_seen_at = %(now)s, value = u.value, details = u.details::jsonb
FROM unnest(%(id)s::bigint[], %(value)s::float8[], %(details)s::text[])
     AS u (id, value, details)
WHERE e.id = u.id AND e.ended_at IS NULL
