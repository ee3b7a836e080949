"""Runner daemon for ClevAgent self-hosted.

It watches docker containers, systemd units, launchd labels and plain processes, sends
batch heartbeats on their behalf, restarts them when they die or when the server queues a
restart command, and holds them stopped when the server reports an exceeded budget.
"""

__version__ = "0.1.0"
