"""The migration runner: applies sql/migrations in version order, once each.

A migration is `NNNN_name.sql` for both flavours, or a pair `NNNN_name.postgres.sql` and
`NNNN_name.timescaledb.sql`. Each one runs in its own transaction together with the row
that records it. A session advisory lock serialises runners, so two processes that start
together apply every migration exactly once.
"""

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from clevagent_server.db.database import Flavour, connect, detect_flavour, recorded_flavour

logger = logging.getLogger(__name__)

# An arbitrary constant shared by every runner: the key of the migration advisory lock.
MIGRATION_LOCK_KEY = 7_362_548_001

_FILE_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(postgres|timescaledb))?\.sql$")


class MigrationError(Exception):
    """A migration could not be applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class MigrationStatus:
    flavour: Flavour | None
    applied: list[int]
    pending: list[Migration]


def available_migrations(flavour: Flavour) -> list[Migration]:
    """Return the migrations for a flavour, sorted by version."""
    found: dict[int, Migration] = {}
    for entry in resources.files("clevagent_server.db").joinpath("migrations").iterdir():
        match = _FILE_PATTERN.match(entry.name)
        if not match:
            continue
        version, name, variant = int(match[1]), match[2], match[3]
        if variant not in (None, flavour):
            continue
        if version in found and variant is None:
            continue  # the flavour-specific file of the same version wins
        found[version] = Migration(version, name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def migrate(url: str, flavour: Flavour | None = None) -> list[Migration]:
    """Apply every pending migration and return the ones applied by this call."""
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            chosen = _settle_flavour(conn, flavour)
            return _apply_pending(conn, chosen)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def status(url: str) -> MigrationStatus:
    """Return the recorded flavour, the applied versions and the pending migrations."""
    with connect(url, autocommit=True) as conn:
        flavour = recorded_flavour(conn)
        applied = _applied_versions(conn) if flavour else []
        candidates = available_migrations(flavour or detect_flavour(conn))
        pending = [m for m in candidates if m.version not in applied]
        return MigrationStatus(flavour, applied, pending)


def _settle_flavour(conn: psycopg.Connection, requested: Flavour | None) -> Flavour:
    recorded = recorded_flavour(conn)
    if recorded:
        if requested and requested != recorded:
            raise MigrationError(
                f"this database was set up for {recorded!r}, not {requested!r}; "
                "use a new database to change flavour"
            )
        return recorded

    flavour = requested or detect_flavour(conn)
    with conn.transaction():
        if flavour == "timescaledb":
            _create_timescaledb_extension(conn)
        conn.execute(
            "CREATE TABLE schema_info (key text PRIMARY KEY, value text NOT NULL);"
            "CREATE TABLE schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO schema_info VALUES ('flavour', %s)", (flavour,))
    logger.info("database flavour recorded as %s", flavour)
    return flavour


def _create_timescaledb_extension(conn: psycopg.Connection) -> None:
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as error:
        raise MigrationError(
            f"the timescaledb extension is available but could not be created ({error}). "
            "Add it to shared_preload_libraries, or choose the plain PostgreSQL flavour "
            "with --flavour postgres."
        ) from error


def _applied_versions(conn: psycopg.Connection) -> list[int]:
    rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [row[0] for row in rows]


def _apply_pending(conn: psycopg.Connection, flavour: Flavour) -> list[Migration]:
    applied = set(_applied_versions(conn))
    done = []
    for migration in available_migrations(flavour):
        if migration.version in applied:
            continue
        logger.info("applying migration %04d_%s", migration.version, migration.name)
        try:
            with conn.transaction():
                conn.execute(migration.sql)  # type: ignore[arg-type]
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
        except psycopg.Error as error:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed: {error}"
            ) from error
        done.append(migration)
    return done
