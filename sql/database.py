"""Database URLs, connections and the flavour of the database.

The URL comes from the --database-url option, then CLEVAGENT_DATABASE_URL, then the
embedded PostgreSQL in the data directory (--data-dir, then CLEVAGENT_DATA_DIR, then the
per-user data directory).
"""

import os
from pathlib import Path
from typing import Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict

from clevagent_server.db import embedded

Flavour = Literal["timescaledb", "postgres"]

# Bounds for every connection the server opens: a stalled database must surface as an
# error the API can turn into a 503, never as a request that hangs forever.
CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 10_000


class DatabaseUnavailable(Exception):
    """The database could not be reached or did not respond in time."""


def resolve_url(database_url: str | None = None, data_dir: str | Path | None = None) -> str:
    """Return the database URL to use, starting the embedded server if none is configured."""
    url = database_url or os.environ.get("CLEVAGENT_DATABASE_URL")
    if url:
        return url
    directory = data_dir or os.environ.get("CLEVAGENT_DATA_DIR") or embedded.default_data_dir()
    return embedded.start(Path(directory))


def connection_options(url: str) -> dict[str, object]:
    """Return the keyword arguments every connection of the server is opened with.

    Options already in the URL (a search_path, say) are kept, with the server's own
    statement timeout and UTC timezone added after them.
    """
    url_options = conninfo_to_dict(url).get("options") or ""
    server_options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c timezone=UTC"
    return {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "options": f"{url_options} {server_options}".strip(),
        "application_name": "clevagent",
    }


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a synchronous connection with the server's timeouts."""
    try:
        options = connection_options(url)
        return psycopg.connect(url, autocommit=autocommit, **options)  # type: ignore[arg-type]
    except psycopg.ProgrammingError as error:
        raise DatabaseUnavailable(
            f"invalid database URL ({' '.join(str(error).split())}); "
            "use postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from error
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"could not connect to the database: {error}") from error


def detect_flavour(conn: psycopg.Connection) -> Flavour:
    """Return "timescaledb" when the server offers the extension, else "postgres"."""
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return "timescaledb" if row else "postgres"


def recorded_flavour(conn: psycopg.Connection) -> Flavour | None:
    """Return the flavour recorded by the first migration, or None before it ran."""
    if conn.execute("SELECT to_regclass('schema_info')").fetchone() == (None,):
        return None
    row = conn.execute("SELECT value FROM schema_info WHERE key = 'flavour'").fetchone()
    return row[0] if row else None
