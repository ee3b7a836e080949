-- Fold the rows older than the margin into the telemetry totals (see 0030_telemetry.sql).
SELECT fold_telemetry_totals(make_interval(secs => %(margin_seconds)s))
