-- The latest finished detector cycle, for the detector metrics of /metrics.
SELECT duration_seconds,
       extract(epoch FROM finished_at)::float8 AS finished_at,
       agents_checked,
       events_written,
       error IS NOT NULL AS failed
FROM detector_runs
WHERE finished_at IS NOT NULL
ORDER BY finished_at DESC
LIMIT 1
