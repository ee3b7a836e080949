-- Runner commands are delivered again when no result arrives in time (a runner that died
-- after a poll would otherwise never receive them). `deliveries` counts the deliveries,
-- so that a command nobody can finish is eventually given up.
ALTER TABLE restart_commands ADD COLUMN deliveries integer NOT NULL DEFAULT 0;
UPDATE restart_commands SET deliveries = 1 WHERE delivered_at IS NOT NULL;

-- The detector cycle's maintenance deletes Langfuse deliveries by age.
CREATE INDEX langfuse_deliveries_received_idx ON langfuse_deliveries (received_at);
