import httpx


def test_heartbeat_round_trip(tier_server):
    response = httpx.post(
        f"{tier_server.url}/api/v1/heartbeat",
        json={"agent": "smoke", "tokens_used": 10, "cost_usd": 0.5},
        headers=tier_server.headers(),
    )
    assert response.status_code == 200, response.text
    status = httpx.get(f"{tier_server.url}/api/v1/status", headers=tier_server.headers()).json()
    assert status["agents"][0]["cost_usd_today"] == 0.5
