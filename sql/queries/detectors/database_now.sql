-- The time a cycle judges by: the database clock, the same clock as heartbeat receive times.
SELECT clock_timestamp()
