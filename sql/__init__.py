"""The database layer shared by ingest, the detectors and the CLI.

It owns the settings, connections, the migration runner and the named queries, and it
imports neither ingest nor the detectors.
"""
