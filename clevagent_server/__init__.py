"""ClevAgent server: heartbeat ingest, detectors, the database layer and the admin CLI."""
