-- Keep the detector's own tables bounded: runs for a week, ended episodes and daily
-- cost totals for 400 days (the longest plan's retention, plus a margin).
WITH runs AS (
    DELETE FROM detector_runs WHERE started_at < %(now)s - interval '7 days'
),
episodes AS (
    DELETE FROM detector_episodes WHERE ended_at < %(now)s - interval '400 days'
)
DELETE FROM detector_daily_costs WHERE day < (%(now)s - interval '400 days')::date
