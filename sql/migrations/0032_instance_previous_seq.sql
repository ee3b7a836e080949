-- The heartbeat writer learns whether a heartbeat is a retry from the upsert that records
-- its instance's sequence number: previous_seq keeps last_seq as it was before the latest
-- update, which RETURNING then reports. A separate read before the upsert missed
-- concurrent retries of an instance's first heartbeat.
ALTER TABLE agent_instances ADD COLUMN previous_seq bigint;
