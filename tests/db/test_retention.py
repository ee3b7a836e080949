"""Per-plan retention and the 1-minute rollups on every database tier.

TimescaleDB expires data through its retention policies, run here with CALL run_job
because the test build has no background workers. Plain PostgreSQL drops daily
partitions in expire_heartbeats(). Both drop whole days, so a row is gone at the latest
one day after it left its plan's window.
"""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

RETENTION_DAYS = {"free": 7, "starter": 30, "pro": 90, "enterprise": 365}


def insert(conn: psycopg.Connection, table: str, when: datetime, tokens: int) -> None:
    conn.execute(
        f"INSERT INTO {table} (time, project_id, agent_id, status, tokens_used, cost_usd)"
        " VALUES (%s, 1, 1, 'ok', %s, 0.5)",
        (when, tokens),
    )


def run_retention(conn: psycopg.Connection, flavour: str) -> None:
    if flavour == "timescaledb":
        jobs = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'"
        ).fetchall()
        for (job_id,) in jobs:
            conn.execute("CALL run_job(%s)", (job_id,))
    else:
        conn.execute("SELECT expire_heartbeats()")


def test_each_plan_keeps_its_window(tier, database_url):
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for plan, days in RETENTION_DAYS.items():
            for when, tokens in (
                (now - timedelta(days=days + 2), 1),
                (now - timedelta(days=days - 1), 2),
                (now - timedelta(minutes=1), 3),
            ):
                conn.execute("SELECT ensure_heartbeat_partitions(%s::date, %s::date)", (when, when))
                insert(conn, f"heartbeats_{plan}", when, tokens)

        run_retention(conn, tier.name if tier.name == "timescaledb" else "postgres")
        kept = conn.execute(
            "SELECT plan, array_agg(tokens_used ORDER BY tokens_used) FROM heartbeats GROUP BY plan"
        ).fetchall()

    assert dict(kept) == {plan: [2, 3] for plan in RETENTION_DAYS}


def test_expired_rows_leave_the_default_partition(tier, database_url):
    if tier.name == "timescaledb":
        return  # no default partition on TimescaleDB: chunks are created on insert
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # No partition was prepared for these days, so they land in the default partition.
        insert(conn, "heartbeats_free", now - timedelta(days=20), 1)
        insert(conn, "heartbeats_free", now - timedelta(days=3), 2)
        conn.execute("SELECT expire_heartbeats()")
        kept = conn.execute("SELECT tokens_used FROM heartbeats_free_default").fetchall()

    assert kept == [(2,)]


def test_expiry_drops_partitions_in_bounded_steps(tier, database_url):
    if tier.name == "timescaledb":
        return
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "SELECT ensure_heartbeat_partitions(%s::date, %s::date)",
            (now - timedelta(days=40), now - timedelta(days=31)),
        )
        # Ten days of partitions per plan: those of free (7 days) and starter (30 days)
        # are expired, those of pro and enterprise are not.
        steps = [conn.execute("SELECT expire_heartbeats(now(), 8)").fetchone() for _ in range(4)]
        left = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname ~ '^heartbeats_[a-z]+_p[0-9]{8}$'"
        ).fetchone()

    assert steps == [(8,), (8,), (4,), (0,)]
    assert left == (20,)


def test_partitions_adopt_rows_from_default(tier, database_url):
    if tier.name == "timescaledb":
        return
    day = datetime.now(UTC).replace(hour=12) - timedelta(days=4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        insert(conn, "heartbeats_free", day, 5)
        conn.execute("SELECT ensure_heartbeat_partitions(%s::date, %s::date)", (day, day))
        partition = f"heartbeats_free_p{day:%Y%m%d}"
        moved = conn.execute(f"SELECT tokens_used FROM {partition}").fetchall()
        left = conn.execute("SELECT count(*) FROM heartbeats_free_default").fetchone()

    assert moved == [(5,)]
    assert left == (0,)


def test_rollup_is_real_time(tier, database_url):
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT ensure_heartbeat_partitions(%s::date, %s::date)", (minute, minute))
        for second, tokens in ((5, 100), (20, 50), (40, 25)):
            insert(conn, "heartbeats_pro", minute + timedelta(seconds=second), tokens)
        insert(conn, "heartbeats_pro", minute + timedelta(minutes=-1, seconds=30), 7)

        rows = conn.execute(
            "SELECT bucket, heartbeats, tokens_used, cost_usd FROM heartbeats_1m"
            " WHERE plan = 'pro' ORDER BY bucket"
        ).fetchall()

    assert rows == [
        (minute - timedelta(minutes=1), 1, 7, 0.5),
        (minute, 3, 175, 1.5),
    ]


def test_old_chunks_are_compressed_and_readable(tier, database_url):
    if tier.name != "timescaledb":
        pytest.skip("compression is a TimescaleDB policy")
    old = datetime.now(UTC) - timedelta(days=5)
    with psycopg.connect(database_url, autocommit=True) as conn:
        insert(conn, "heartbeats_pro", old, 11)
        insert(conn, "heartbeats_pro", datetime.now(UTC), 12)
        jobs = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_compression' AND hypertable_name = 'heartbeats_pro'"
        ).fetchall()
        for (job_id,) in jobs:
            conn.execute("CALL run_job(%s)", (job_id,))
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'heartbeats_pro' AND is_compressed"
        ).fetchone()
        tokens = conn.execute(
            "SELECT array_agg(tokens_used ORDER BY time) FROM heartbeats WHERE plan = 'pro'"
        ).fetchone()

    assert len(jobs) == 1
    assert compressed == (1,)
    assert tokens == ([11, 12],)
