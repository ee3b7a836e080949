"""The migration runner on every database tier."""

import threading

import psycopg
import pytest

from clevagent_server.db.migrate import MigrationError, available_migrations, migrate, status

VIEWS = {"heartbeats", "heartbeats_1m"}
PLAN_TABLES = {"heartbeats_free", "heartbeats_starter", "heartbeats_pro", "heartbeats_enterprise"}


def test_migrate_records_flavour_once(tier, database_url):
    expected = "timescaledb" if tier.name == "timescaledb" else "postgres"

    result = status(database_url)

    assert result.flavour == expected
    assert result.pending == []
    assert result.applied == [m.version for m in available_migrations(expected)]
    assert migrate(database_url) == []


def test_schema_has_same_names_on_every_tier(database_url):
    with psycopg.connect(database_url) as conn:
        relations = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        }
        plans = conn.execute(
            "SELECT name, rate_limit_per_minute, retention_days FROM plans"
            " ORDER BY rate_limit_per_minute"
        ).fetchall()

    assert VIEWS | PLAN_TABLES <= relations
    assert {
        "plans",
        "projects",
        "api_keys",
        "agents",
        "agent_events",
        "restart_commands",
    } <= relations
    assert plans == [
        ("free", 200, 7),
        ("starter", 500, 30),
        ("pro", 1000, 90),
        ("enterprise", 10000, 365),
    ]


def test_timescaledb_tables_are_hypertables(tier, database_url):
    if tier.name != "timescaledb":
        pytest.skip("hypertables exist on the TimescaleDB tier only")
    with psycopg.connect(database_url) as conn:
        hypertables = {
            r[0]
            for r in conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
        aggregates = conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
            " ORDER BY view_name"
        ).fetchall()

    assert PLAN_TABLES <= hypertables
    assert [name for name, _ in aggregates] == sorted(
        t.replace("heartbeats_", "heartbeats_1m_") for t in PLAN_TABLES
    )
    assert all(materialized_only is False for _, materialized_only in aggregates)


def test_concurrent_migrations_apply_each_once(postgres_tier):
    url = postgres_tier.new_database()
    results: list[object] = []

    def run() -> None:
        try:
            results.append(migrate(url))
        except Exception as error:  # collected so that the assertion shows it
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    applied = [r for r in results if isinstance(r, list)]
    assert len(applied) == 3, results
    assert sorted(len(r) for r in applied) == [0, 0, len(available_migrations("postgres"))]
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert len(versions) == len(set(versions))


def test_flavour_cannot_change(postgres_tier):
    url = postgres_tier.new_database()
    migrate(url, "postgres")

    with pytest.raises(MigrationError, match="set up for 'postgres'"):
        migrate(url, "timescaledb")


def test_unavailable_extension_is_explained(postgres_tier):
    url = postgres_tier.new_database()

    with pytest.raises(MigrationError, match="--flavour postgres"):
        migrate(url, "timescaledb")
