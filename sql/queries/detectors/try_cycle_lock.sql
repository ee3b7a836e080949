-- Serialise cycles: a second cycle started while one is running skips instead of
-- writing the same events twice. Released at the end of the cycle's transaction.
SELECT pg_try_advisory_xact_lock(%(key)s)
