"""A seeded database on each tier of tests/conftest.py, shared by the tests of a module."""

from collections.abc import Iterator

import psycopg
import pytest

from clevagent_server.db.migrate import migrate
from tests.grafana.seed import Seed, seed_fleet


@pytest.fixture(scope="module")
def seeded(tier) -> Iterator[Seed]:  # type: ignore[no-untyped-def]
    """Return a migrated database of each tier with the seeded fleet.

    Seeding once per module keeps the suite short; the tests only read, except one that
    writes in a transaction and rolls it back.
    """
    url = tier.new_database()
    migrate(url)
    flavour = "timescaledb" if tier.name == "timescaledb" else "postgres"
    with psycopg.connect(url, autocommit=True) as conn:
        yield seed_fleet(conn, url, flavour)
