-- Leadership of the detector loop, held by a dedicated connection for as long as it lives.
SELECT pg_try_advisory_lock(%(key)s)
