"""The heartbeat API against a running `clevagent serve` on a real PostgreSQL.

Bodies and status codes are the hosted product's contract and are asserted exactly.
"""

import json
import math
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from clevagent_server import admin
from clevagent_server.db import database
from clevagent_server.db.migrate import migrate
from tests.support import ServerProcess, start_server

INVALID_KEY = {"detail": "Invalid or missing X-API-Key header"}


@pytest.fixture(scope="module")
def shared_server(postgres_tier, tmp_path_factory) -> Iterator[ServerProcess]:
    url = postgres_tier.new_database()
    migrate(url)
    running = start_server(url, tmp_path_factory.mktemp("serve"))
    yield running
    running.stop()


@pytest.fixture
def server(shared_server) -> ServerProcess:
    """The module's server, seen through a project and key of this test's own."""
    return with_new_project(shared_server)


def with_new_project(shared: ServerProcess, strict_mode: bool = False) -> ServerProcess:
    with database.connect(shared.database_url) as conn:
        project = admin.create_project(conn, f"p-{uuid.uuid4().hex[:8]}", strict_mode=strict_mode)
        key = admin.create_key(conn, project["name"])
    return replace(shared, project=project["name"], project_id=project["id"], api_key=key["key"])


def post(server: ServerProcess, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}",
        content=json.dumps(body) if not isinstance(body, bytes) else body,
        headers={"Content-Type": "application/json", **server.headers(), **headers},
        timeout=30,
    )


def stored(server: ServerProcess, agent: str) -> list[dict[str, object]]:
    with psycopg.connect(server.database_url) as conn:
        cursor = conn.execute(
            "SELECT h.* FROM heartbeats h JOIN agents a ON a.id = h.agent_id "
            "WHERE a.name = %s AND a.project_id = %s ORDER BY h.time",
            (agent, server.project_id),
        )
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def test_heartbeat_returns_hosted_body(server):
    body = {
        "agent": "my-agent",
        "status": "ok",
        "tokens_used": 1500,
        "cost_usd": 0.045,
        "tool_calls": 3,
        "iteration_count": 42,
    }
    response = post(server, "/api/v1/heartbeat", body)

    assert response.status_code == 200
    data = response.json()
    assert data["received"] is True
    assert isinstance(data["agent_id"], int)
    assert data["status"] == "healthy"
    assert data["warning"] is None
    assert data["min_interval_seconds"] == 60
    [row] = stored(server, "my-agent")
    assert row["tokens_used"] == 1500
    assert row["cost_usd"] == 0.045
    assert row["cost_source"] == "client"
    assert row["tool_calls"] == 3
    assert row["iteration_count"] == 42


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "cv_not-a-key"}, {"X-API-Key": ""}])
def test_heartbeat_rejects_bad_key(server, headers):
    response = httpx.post(f"{server.url}/api/v1/heartbeat", json={"agent": "a"}, headers=headers)

    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_revoked_key_is_rejected(server):
    with database.connect(server.database_url) as conn:
        key = admin.create_key(conn, server.project, "short-lived")
        admin.revoke_key(conn, server.project, str(key["id"]))

    response = httpx.post(
        f"{server.url}/api/v1/heartbeat", json={"agent": "a"}, headers={"X-API-Key": key["key"]}
    )

    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_missing_agent_is_hosted_422(server):
    response = post(server, "/api/v1/heartbeat", {"status": "ok"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"loc": ["body", "agent"], "msg": "field required", "type": "missing"}]
    }


def test_rate_limit_is_hosted_429(server):
    # The free plan allows 200 requests a minute, with bursts up to 400. While the test
    # runs the bucket refills at 200/60 per second, which bounds how many more pass.
    started = time.monotonic()
    accepted = 0
    with httpx.Client(base_url=server.url, headers=server.headers()) as client:
        while (limited := client.get("/api/v1/status?limit=1")).status_code == 200:
            accepted += 1
            assert accepted < 1000
    elapsed = time.monotonic() - started

    assert 400 <= accepted <= 400 + elapsed * 200 / 60 + 1
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert limited.json() == {"detail": f"Rate limit exceeded. Retry after {retry_after} seconds."}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"agent": "a", "cost_usd": NaN}', "cost_usd"),
        (b'{"agent": "a", "cost_usd": Infinity}', "cost_usd"),
        (b'{"agent": "a", "memory_mb": -Infinity}', "memory_mb"),
        (b'{"agent": "a", "tokens_used": -1}', "tokens_used"),
        (b'{"agent": "a", "tool_calls": -3}', "tool_calls"),
        (b'{"agent": "a", "cost_usd": -0.01}', "cost_usd"),
        (b'{"agent": "a", "iteration_count": 1.5}', "iteration_count"),
        (b'{"agent": "a", "status": "fine"}', "status"),
    ],
)
def test_bad_number_is_422_and_not_stored(server, raw, field):
    response = post(server, "/api/v1/heartbeat", raw)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert stored(server, "a") == []


@pytest.mark.parametrize(
    ("raw", "error_type"),
    [
        (b'{"agent": "a",', "json_invalid"),
        (b"agent=a", "json_invalid"),
        (b"", "missing"),
        (b"  ", "missing"),
        (b'["agent", "a"]', "model_type"),
        (b'"a"', "model_type"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/heartbeat", "/api/v1/heartbeat/batch"])
def test_non_object_body_is_422(server, path, raw, error_type):
    response = post(server, path, raw)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == error_type
    if error_type == "json_invalid":
        assert error["msg"].startswith("JSON decode error: ")


def test_key_is_checked_before_the_body(server):
    response = post(server, "/api/v1/heartbeat", b"{not json", **{"X-API-Key": "cv_wrong"})

    assert response.status_code == 401
    assert response.json() == INVALID_KEY


def test_json_without_content_type_is_accepted(server):
    # curl -d sends application/x-www-form-urlencoded unless given a Content-Type.
    response = httpx.post(
        f"{server.url}/api/v1/heartbeat",
        content=b'{"agent": "curl-default"}',
        headers={**server.headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert len(stored(server, "curl-default")) == 1


def test_responses_have_the_documented_fields(server):
    openapi = httpx.get(f"{server.url}/api/openapi.json").json()
    schemas = openapi["components"]["schemas"]
    single = post(server, "/api/v1/heartbeat", {"agent": "documented"}).json()
    batch = post(
        server, "/api/v1/heartbeat/batch", {"heartbeats": [{"agent": "documented"}, {"agent": ""}]}
    ).json()

    assert set(single) == set(schemas["HeartbeatResponse"]["properties"])
    assert set(batch) == set(schemas["BatchResponse"]["properties"])
    stored_item, failed_item = batch["results"]
    assert set(stored_item) == set(schemas["BatchItemResult"]["properties"])
    assert set(failed_item) == set(schemas["BatchItemResult"]["properties"])
    assert stored_item["error"] is None
    assert failed_item["agent_id"] is None


@pytest.mark.parametrize(
    ("path", "model"),
    [("/api/v1/heartbeat", "Heartbeat"), ("/api/v1/heartbeat/batch", "HeartbeatBatch")],
)
def test_openapi_documents_the_request_bodies(server, path, model):
    openapi = httpx.get(f"{server.url}/api/openapi.json").json()
    body = openapi["paths"][path]["post"]["requestBody"]

    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert ref == f"#/components/schemas/{model}"
    schemas = openapi["components"]["schemas"]
    heartbeat_fields = schemas["Heartbeat"]["properties"]
    assert {"agent", "tokens_used", "cost_usd", "seq"} <= set(heartbeat_fields)
    if model == "HeartbeatBatch":
        items = schemas[model]["properties"]["heartbeats"]["items"]
        assert items == {"$ref": "#/components/schemas/Heartbeat"}
    # Models used by the body are documented too, so every reference resolves.
    refs = set(_references(schemas[model]))
    assert refs <= {f"#/components/schemas/{name}" for name in schemas}


def test_openapi_documents_the_key_and_the_errors(server):
    openapi = httpx.get(f"{server.url}/api/openapi.json").json()
    schemes = openapi["components"]["securitySchemes"]
    operations = [
        (path, method, operation)
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
    ]
    api = [(path, operation) for path, _, operation in operations if path.startswith("/api/")]
    heartbeat = openapi["paths"]["/api/v1/heartbeat"]["post"]["responses"]

    assert schemes == {"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    assert len(api) >= 10
    for path, operation in api:
        assert operation["security"] == [{"APIKeyHeader": []}], path
        assert {"401", "429", "503"} <= set(operation["responses"]), path
    assert "security" not in openapi["paths"]["/healthz"]["get"]
    assert {"403", "413", "422"} <= set(heartbeat)
    validation = heartbeat["422"]["content"]["application/json"]["schema"]["$ref"]
    assert validation == "#/components/schemas/ValidationErrors"
    defined = {f"#/components/schemas/{name}" for name in openapi["components"]["schemas"]}
    assert set(_references(openapi)) <= defined


def _references(schema: object) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "$ref":
                yield value
            else:
                yield from _references(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _references(value)


@pytest.mark.parametrize("name", ["", " padded", "tab\there", "x" * 129, "line\nbreak"])
def test_invalid_agent_name_is_422(server, name):
    response = post(server, "/api/v1/heartbeat", {"agent": name})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "agent"]
    assert "1 to 128 characters" in error["msg"]


def test_nul_and_lone_surrogate_are_cleaned(server):
    raw = b'{"agent": "clean", "message": "a\\u0000b\\ud800c", "agent_type": "x\\u0000y"}'
    response = post(server, "/api/v1/heartbeat", raw)

    assert response.status_code == 200
    [row] = stored(server, "clean")
    assert row["message"] == "ab\ufffdc"


def test_long_message_is_truncated_and_marked(server):
    message = "é" * 1999 + "😀" * 10  # multi-byte code points around the limit
    response = post(server, "/api/v1/heartbeat", {"agent": "talker", "message": message})

    assert response.status_code == 200
    assert response.json()["message_truncated"] is True
    [row] = stored(server, "talker")
    assert len(row["message"]) == 2000
    assert row["message"] == "é" * 1999 + "…"
    assert row["message_truncated"] is True


def test_client_clock_skew_is_stored_not_trusted(server):
    skewed = datetime.now(UTC) - timedelta(days=400)
    before = datetime.now(UTC)
    response = post(
        server, "/api/v1/heartbeat", {"agent": "skewed", "timestamp": skewed.isoformat()}
    )

    assert response.status_code == 200
    [row] = stored(server, "skewed")
    assert row["client_time"] == skewed
    assert row["time"] >= before - timedelta(seconds=5)
    with database.connect(server.database_url) as conn:
        agent = admin.get_agent(conn, server.project, "skewed")
    assert agent["last_heartbeat_at"] == row["time"]


def test_unknown_fields_are_ignored(server):
    response = post(server, "/api/v1/heartbeat", {"agent": "future", "from_sdk_9": {"x": 1}})

    assert response.status_code == 200


def test_body_over_limit_is_413(server):
    body = json.dumps({"agent": "big", "message": "x" * (1024 * 1024)}).encode()
    response = post(server, "/api/v1/heartbeat", body)

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 1048576 bytes."}
    assert stored(server, "big") == []


def test_retried_sequence_counts_once(server):
    body = {
        "agent": "retry",
        "instance_id": "proc-1",
        "seq": 7,
        "tokens_used": 100,
        "cost_usd": 0.5,
    }
    first = post(server, "/api/v1/heartbeat", body)
    again = post(server, "/api/v1/heartbeat", body)
    older = post(server, "/api/v1/heartbeat", {**body, "seq": 6})
    newer = post(server, "/api/v1/heartbeat", {**body, "seq": 8})

    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    assert older.json()["duplicate"] is True
    assert newer.json()["duplicate"] is False
    assert sum(row["cost_usd"] for row in stored(server, "retry")) == 1.0


def test_concurrent_copies_of_a_retry_store_once(server):
    # The copies of each heartbeat land in different flushes, which run at the same time:
    # the first heartbeat of a new instance is the case with no row to lock beforehand.
    bodies = [
        {"agent": "racer", "instance_id": f"racer-{trial}", "seq": 1, "tokens_used": 1}
        for trial in range(30)
    ]

    def send(body: dict[str, object]) -> httpx.Response:
        return post(server, "/api/v1/heartbeat", body)

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(send, [body for body in bodies for _ in range(6)]))

    assert [r.status_code for r in responses] == [200] * len(responses)
    duplicates = [r.json()["duplicate"] for r in responses]
    assert duplicates.count(False) == len(bodies)
    rows = stored(server, "racer")
    assert len(rows) == len(bodies)
    assert sorted(row["instance_id"] for row in rows) == sorted(b["instance_id"] for b in bodies)


def test_late_retry_keeps_newer_agent_state(server):
    body = {"agent": "late", "instance_id": "late-1"}
    old = {
        **body,
        "seq": 1,
        "iteration_count": 10,
        "status": "error",
        "message": "old",
        "busy_seconds": 3600,
    }
    new = {
        **body,
        "seq": 2,
        "iteration_count": 11,
        "status": "ok",
        "message": "new",
        "busy_seconds": 0,
    }
    post(server, "/api/v1/heartbeat", old)
    post(server, "/api/v1/heartbeat", new)
    with psycopg.connect(server.database_url) as conn:
        before = conn.execute(
            "SELECT last_heartbeat_at FROM agents WHERE project_id = %s AND name = 'late'",
            (server.project_id,),
        ).fetchone()

    retry = post(server, "/api/v1/heartbeat", old)

    assert retry.json()["duplicate"] is True
    with psycopg.connect(server.database_url) as conn:
        agent = conn.execute(
            "SELECT last_iteration, last_client_status, last_message, busy_until, "
            "last_heartbeat_at FROM agents WHERE project_id = %s AND name = 'late'",
            (server.project_id,),
        ).fetchone()
    assert agent[0] == 11
    assert agent[1] == "ok"
    assert agent[2] == "new"
    assert agent[3] is None
    assert agent[4] > before[0]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"agent": "a", "tool_calls": 3_000_000_000}, ["body", "tool_calls"]),
        ({"agent": "a", "unknown_usage_calls": 2**31}, ["body", "unknown_usage_calls"]),
        (
            {"agent": "a", "usage": [{"model": "gpt-4o", "calls": 10**7 + 1}]},
            ["body", "usage", 0, "calls"],
        ),
        ({"agent": "a", "timestamp": "0001-01-01T00:00:00+05:00"}, ["body", "timestamp"]),
        ({"agent": "a\u0000b"}, ["body", "agent"]),
        ({"agent": "s\ud800"}, ["body", "agent"]),
    ],
)
def test_values_the_columns_cannot_hold_are_422(server, body, loc):
    raw = json.dumps(body).replace("\\\\u", "\\u").encode()
    response = post(server, "/api/v1/heartbeat", raw)

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert stored(server, "a") == []


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("2026-12-04T10:00:00+23:59", datetime(2026, 12, 3, 10, 1, tzinfo=UTC)),
        ("2026-12-04T10:00:00-20:00", datetime(2026, 12, 5, 6, 0, tzinfo=UTC)),
        ("2026-12-04T10:00:00", datetime(2026, 12, 4, 10, 0, tzinfo=UTC)),
    ],
)
def test_client_times_are_stored_in_utc(server, sent, kept):
    response = post(server, "/api/v1/heartbeat", {"agent": "tz", "timestamp": sent})

    assert response.status_code == 200
    [row] = stored(server, "tz")
    assert row["client_time"] == kept


def test_negative_zero_is_stored_as_zero(server):
    response = post(server, "/api/v1/heartbeat", b'{"agent": "zero", "cost_usd": -0.0}')

    assert response.status_code == 200
    [row] = stored(server, "zero")
    assert math.copysign(1.0, row["cost_usd"]) == 1.0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"agent": "big", "extra": 1' + b"0" * 5000 + b"}",
        b'{"agent": "deep", "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"agent": "deep\\ud800", "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"agent": "big\\ud800", "extra": 1' + b"0" * 5000 + b"}",
    ],
)
def test_pathological_json_is_422_not_500(server, raw):
    response = post(server, "/api/v1/heartbeat", raw)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["type"] == "json_invalid"


def test_string_batch_item_has_no_agent(server):
    response = post(server, "/api/v1/heartbeat/batch", {"heartbeats": ["x", {"agent": "y"}]})

    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["agent"] is None
    assert first["received"] is False
    assert second["agent"] == "y"


def test_database_rejection_fails_only_that_item(server):
    # A check constraint simulates any value the database rejects after validation.
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        conn.execute(
            "ALTER TABLE heartbeats_free ADD CONSTRAINT no_poison "
            "CHECK (message IS DISTINCT FROM 'poison')"
        )
    try:
        items = [
            {"agent": "kept-1", "message": "fine"},
            {"agent": "poisoned", "message": "poison"},
            {"agent": "kept-2"},
        ]
        batch = post(server, "/api/v1/heartbeat/batch", {"heartbeats": items})
        single = post(server, "/api/v1/heartbeat", {"agent": "poisoned", "message": "poison"})
    finally:
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE heartbeats_free DROP CONSTRAINT no_poison")

    assert batch.status_code == 200
    data = batch.json()
    assert data["received"] == 2
    assert [r["received"] for r in data["results"]] == [True, False, True]
    error = data["results"][1]["error"]
    assert error["status_code"] == 422
    assert error["detail"][0]["type"] == "database_rejected"
    assert error["detail"][0]["loc"] == ["body", "heartbeats", 1]
    assert "SQLSTATE 23514" in error["detail"][0]["msg"]
    assert "heartbeats_free" not in error["detail"][0]["msg"]
    assert len(stored(server, "kept-1")) == 1
    assert len(stored(server, "kept-2")) == 1
    assert single.status_code == 422
    assert single.json()["detail"][0]["type"] == "database_rejected"
    assert stored(server, "poisoned") == []


def test_usage_is_priced_by_the_server(server):
    body = {
        "agent": "priced",
        "usage": [
            {
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 100,
                "cached_tokens": 200,
                "calls": 2,
            },
            {"provider": "nobody", "model": "private-model-7", "input_tokens": 50, "calls": 1},
        ],
        "unknown_usage_calls": 1,
    }
    response = post(server, "/api/v1/heartbeat", body)

    assert response.status_code == 200
    [row] = stored(server, "priced")
    # gpt-4o: 800 uncached input at $2.50/M, 200 cached at $1.25/M, 100 output at $10/M.
    assert row["cost_usd"] == pytest.approx(0.00325)
    assert row["cost_source"] == "computed"
    assert row["llm_calls"] == 3
    assert row["unpriced_calls"] == 1
    assert row["unknown_usage_calls"] == 1
    assert row["tokens_used"] == 1150


def test_client_cost_wins_over_usage(server):
    body = {
        "agent": "explicit",
        "cost_usd": 1.25,
        "usage": [{"provider": "openai", "model": "gpt-4o", "input_tokens": 1000}],
    }
    post(server, "/api/v1/heartbeat", body)

    [row] = stored(server, "explicit")
    assert row["cost_usd"] == 1.25
    assert row["cost_source"] == "client"


def test_fingerprints_are_stored_in_order(server):
    prints = ["ab" * 32, "cd" * 32, "ab" * 32]
    post(server, "/api/v1/heartbeat", {"agent": "looper", "fingerprints": prints})

    [row] = stored(server, "looper")
    assert row["fingerprints"] == prints


def test_batch_reports_each_item(server):
    body = {
        "heartbeats": [
            {"agent": "b-1", "tokens_used": 5},
            {"agent": "b-2", "cost_usd": -1},
            "not an object",
            {"agent": "b-3"},
        ]
    }
    response = post(server, "/api/v1/heartbeat/batch", body)

    assert response.status_code == 200
    data = response.json()
    assert data["received"] == 2
    assert [r["received"] for r in data["results"]] == [True, False, False, True]
    assert [r["index"] for r in data["results"]] == [0, 1, 2, 3]
    assert data["results"][1]["error"]["status_code"] == 422
    assert data["results"][1]["error"]["detail"][0]["loc"] == ["body", "heartbeats", 1, "cost_usd"]
    assert data["results"][2]["error"]["detail"][0]["loc"] == ["body", "heartbeats", 2]
    assert len(stored(server, "b-1")) == 1
    assert len(stored(server, "b-3")) == 1
    assert stored(server, "b-2") == []


def test_batch_of_100_is_stored(server):
    items = [{"agent": f"fleet-{i}", "tokens_used": i} for i in range(100)]
    response = post(server, "/api/v1/heartbeat/batch", {"heartbeats": items})

    assert response.status_code == 200
    assert response.json()["received"] == 100
    with psycopg.connect(server.database_url) as conn:
        total = conn.execute(
            "SELECT count(*), sum(tokens_used) FROM heartbeats WHERE project_id = %s",
            (server.project_id,),
        ).fetchone()
    assert total == (100, sum(range(100)))


@pytest.mark.parametrize("count", [0, 101])
def test_batch_size_out_of_bounds_is_422(server, count):
    items = [{"agent": f"fleet-{i}"} for i in range(count)]
    response = post(server, "/api/v1/heartbeat/batch", {"heartbeats": items})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "heartbeats"]
    assert error["type"] in ("too_short", "too_long")


def test_strict_mode_rejects_unregistered_agent(shared_server):
    server = with_new_project(shared_server, strict_mode=True)
    with database.connect(server.database_url) as conn:
        admin.register_agent(conn, server.project, "known-bot")

    rejected = post(server, "/api/v1/heartbeat", {"agent": "typo-bot"})
    accepted = post(server, "/api/v1/heartbeat", {"agent": "known-bot"})
    batch = post(server, "/api/v1/heartbeat/batch", {"heartbeats": [{"agent": "typo-bot"}]})

    assert rejected.status_code == 403
    detail = rejected.json()["detail"]
    assert "'typo-bot'" in detail
    assert "clevagent agent register" in detail
    assert accepted.status_code == 200
    assert batch.json()["results"][0]["error"]["status_code"] == 403
    with database.connect(server.database_url) as conn:
        names = [a["name"] for a in admin.agents(conn, server.project)]
    assert names == ["known-bot"]


def test_keys_are_scoped_to_their_project(server, tmp_path):
    with database.connect(server.database_url) as conn:
        other = admin.create_project(conn, f"other-{uuid.uuid4().hex[:6]}")
        other_key = admin.create_key(conn, other["name"])["key"]
    post(server, "/api/v1/heartbeat", {"agent": "shared-name", "cost_usd": 1.0})
    other_headers = {"X-API-Key": other_key}

    httpx.post(
        f"{server.url}/api/v1/heartbeat", json={"agent": "shared-name"}, headers=other_headers
    )
    mine = httpx.get(f"{server.url}/api/v1/status", headers=server.headers()).json()
    theirs = httpx.get(f"{server.url}/api/v1/status", headers=other_headers).json()

    assert mine["project"] == server.project
    assert theirs["project"] == other["name"]
    assert mine["agents"][0]["id"] != theirs["agents"][0]["id"]
    assert mine["agents"][0]["cost_usd_today"] == 1.0
    assert theirs["agents"][0]["cost_usd_today"] == 0.0


def test_status_pages_and_counts(server):
    items = [{"agent": f"agent-{i:03d}", "status": "error" if i < 3 else "ok"} for i in range(30)]
    post(server, "/api/v1/heartbeat/batch", {"heartbeats": items})

    first = httpx.get(f"{server.url}/api/v1/status?limit=10", headers=server.headers()).json()
    last = httpx.get(
        f"{server.url}/api/v1/status?limit=10&offset=25", headers=server.headers()
    ).json()
    default = httpx.get(f"{server.url}/api/v1/status", headers=server.headers()).json()

    assert [a["name"] for a in first["agents"]] == [f"agent-{i:03d}" for i in range(10)]
    assert [a["name"] for a in last["agents"]] == [f"agent-{i:03d}" for i in range(25, 30)]
    assert len(default["agents"]) == 30
    assert first["summary"] == {"total": 30, "healthy": 27, "degraded": 3, "dead": 0, "unknown": 0}


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "limit=abc"])
def test_status_rejects_bad_paging(server, query):
    response = httpx.get(f"{server.url}/api/v1/status?{query}", headers=server.headers())

    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/healthz", "/api/docs", "/api/redoc", "/api/openapi.json"])
def test_service_pages_answer(server, path):
    assert httpx.get(f"{server.url}{path}").status_code == 200


def test_database_down_or_stalled_is_503(pg_database_url, tmp_path: Path):
    from tests.tcp_proxy import TcpProxy

    info = psycopg.conninfo.conninfo_to_dict(pg_database_url)
    proxy = TcpProxy(str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432))
    proxied = psycopg.conninfo.make_conninfo(pg_database_url, host="127.0.0.1", port=proxy.port)
    server = start_server(proxied, tmp_path)
    try:
        assert post(server, "/api/v1/heartbeat", {"agent": "steady"}).status_code == 200

        proxy.set_mode("down")
        down = post(server, "/api/v1/heartbeat", {"agent": "steady"})
        proxy.set_mode("stall")
        stalled = post(server, "/api/v1/heartbeat", {"agent": "steady"})
        proxy.set_mode("forward")
        recovered = [post(server, "/api/v1/heartbeat", {"agent": "steady"}) for _ in range(3)]
    finally:
        server.stop()
        proxy.close()

    for response in (down, stalled):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json() == {"detail": "Database unavailable. Retry after 5 seconds."}
    assert recovered[-1].status_code == 200


def test_concurrent_plans_land_in_their_tables(shared_server):
    free = with_new_project(shared_server)
    with database.connect(shared_server.database_url) as conn:
        admin.set_plan(conn, free.project, "free")
    pro = with_new_project(shared_server)
    with database.connect(shared_server.database_url) as conn:
        admin.set_plan(conn, pro.project, "pro")

    def send(server: ServerProcess, index: int) -> int:
        body = {"agent": f"mixed-{index}", "tokens_used": index}
        return post(server, "/api/v1/heartbeat", body).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda i: send(free if i % 2 else pro, i), range(64)))

    assert codes == [200] * 64
    with psycopg.connect(shared_server.database_url) as conn:
        plans = conn.execute(
            "SELECT project_id, plan, count(*) FROM heartbeats"
            " WHERE project_id = ANY(%s) GROUP BY 1, 2 ORDER BY 1",
            ([free.project_id, pro.project_id],),
        ).fetchall()
    assert plans == [(free.project_id, "free", 32), (pro.project_id, "pro", 32)]


def test_chunked_body_over_limit_is_413(server):
    def chunks():
        yield b'{"agent": "chunked", "message": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    response = httpx.post(
        f"{server.url}/api/v1/heartbeat",
        content=chunks(),
        headers={"Content-Type": "application/json", **server.headers()},
    )

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 1048576 bytes."}
    assert stored(server, "chunked") == []


def test_chunked_body_under_limit_is_stored(server):
    def chunks():
        yield b'{"agent": "small-chunks",'
        yield b' "tokens_used": 3}'

    response = httpx.post(
        f"{server.url}/api/v1/heartbeat",
        content=chunks(),
        headers={"Content-Type": "application/json", **server.headers()},
    )

    assert response.status_code == 200
    assert [row["tokens_used"] for row in stored(server, "small-chunks")] == [3]


@pytest.mark.parametrize("value", ["true", '"12"', "5.0"])
def test_counts_must_be_json_integers(server, value):
    raw = f'{{"agent": "strict-types", "tokens_used": {value}}}'.encode()

    response = post(server, "/api/v1/heartbeat", raw)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tokens_used"]


def test_huge_status_offset_is_422(server):
    response = httpx.get(
        f"{server.url}/api/v1/status?offset=9223372036854775808", headers=server.headers()
    )

    assert response.status_code == 422


def test_strict_mode_keeps_existing_agents(shared_server):
    server = with_new_project(shared_server)
    assert post(server, "/api/v1/heartbeat", {"agent": "old-timer"}).status_code == 200
    with database.connect(server.database_url, autocommit=True) as conn:
        admin.set_strict(conn, server.project, True)
    # The server caches the first project's settings for 30 s, so the 403 is checked on
    # a project that is strict from the start.
    project_only = with_new_project(shared_server, strict_mode=True)

    with database.connect(server.database_url) as conn:
        agent = admin.get_agent(conn, server.project, "old-timer")
    rejected = post(project_only, "/api/v1/heartbeat", {"agent": "newcomer"})

    assert agent["registered"] is True
    assert rejected.status_code == 403
    assert f"clevagent agent register {project_only.project} newcomer" in rejected.json()["detail"]
