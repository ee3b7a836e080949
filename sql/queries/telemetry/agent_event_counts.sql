-- Cumulative counts of the exported event types (telemetry_counted_event_types) for the
-- given agents: folded totals plus the events at or after the watermark.
-- Parameters: agent_ids (bigint[]).
WITH watermark AS (
    SELECT folded_before FROM telemetry_watermark
),
live AS (
    SELECT e.agent_id, e.type, coalesce(e.signal, '') AS signal, count(*) AS events
    FROM agent_events e, watermark w
    WHERE e.time >= w.folded_before
      AND e.agent_id = ANY (%(agent_ids)s::bigint[])
      AND e.type = ANY (telemetry_counted_event_types())
    GROUP BY e.agent_id, e.type, coalesce(e.signal, '')
),
folded AS (
    SELECT agent_id, type, signal, events
    FROM agent_event_totals
    WHERE agent_id = ANY (%(agent_ids)s::bigint[])
)
SELECT agent_id, type, signal, sum(events)::bigint AS events
FROM (SELECT * FROM folded UNION ALL SELECT * FROM live) counted
GROUP BY agent_id, type, signal
ORDER BY agent_id, type, signal
