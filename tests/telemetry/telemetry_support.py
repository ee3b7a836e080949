"""Helpers shared by the telemetry tests."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest


def send_heartbeat(server: Any, **fields: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/v1/heartbeat", json=fields,
                          headers=server.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Call check until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s; last result {result!r}")
        time.sleep(interval)
