"""Named SQL statements, loaded from sql/queries/<name>.sql.

Statements take psycopg parameters. A few name a table chosen at run time (the heartbeats
table of a plan); they mark it as {table} and are composed with psycopg.sql, never with
string formatting of values.
"""

from functools import cache
from importlib import resources

from psycopg import sql


@cache
def load(name: str) -> str:
    """Return the text of the named statement, for example load("ingest/insert_heartbeats")."""
    path = resources.files("clevagent_server.db").joinpath("queries", f"{name}.sql")
    return path.read_text(encoding="utf-8")


@cache
def for_table(name: str, table: str) -> sql.Composed:
    """Return the named statement with {table} bound to the quoted identifier table."""
    return sql.SQL(load(name)).format(table=sql.Identifier(table))  # type: ignore[arg-type]
