-- Store the re-evaluated loop signals of some agents; a row with neither signal is removed.
WITH u AS (
    SELECT * FROM unnest(%(agent_id)s::bigint[], %(repetition)s::text[], %(spike)s::text[])
         AS u (agent_id, repetition, spike)
),
removed AS (
    DELETE FROM detector_agent_signals s
    USING u
    WHERE s.agent_id = u.agent_id AND u.repetition IS NULL AND u.spike IS NULL
)
INSERT INTO detector_agent_signals AS s (agent_id, repetition, spike)
SELECT u.agent_id, u.repetition::jsonb, u.spike::jsonb
FROM u
WHERE u.repetition IS NOT NULL OR u.spike IS NOT NULL
ON CONFLICT (agent_id) DO UPDATE
SET repetition = excluded.repetition, spike = excluded.spike
