"""One heartbeat POST over the standard library, classified for the retry policy."""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

# urllib.request pulls in http.client, ssl and email: imported on the worker thread at
# the first heartbeat, so that `import clevagent` stays cheap for the agent.
if TYPE_CHECKING:
    import urllib.error

from clevagent._version import __version__

USER_AGENT = f"clevagent-sdk-python/{__version__}"

# A server may ask for a long pause, but an agent that runs for days should not go silent
# for longer than an hour because of one header.
MAX_RETRY_AFTER = 3600.0

Kind = Literal["ok", "retry", "unauthorized", "rejected"]


@dataclass(frozen=True)
class Outcome:
    """Result of one POST: what the worker does next and the decoded body when there is one."""

    kind: Kind
    status_code: int | None = None
    body: dict[str, Any] | None = None
    retry_after: float | None = None
    error: str = ""


def post_heartbeat(url: str, api_key: str, payload: dict[str, Any], timeout: float) -> Outcome:
    """POST one heartbeat; never raise, whatever the network or the server does."""
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        url,
        data=json.dumps(payload, separators=(",", ":"), allow_nan=False).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-API-Key": api_key,
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Outcome("ok", response.status, _decode(response.read()))
    except urllib.error.HTTPError as error:
        return _classify_http_error(error)
    except (OSError, http.client.HTTPException, ValueError) as error:
        # URLError, timeouts, refused and reset connections and malformed responses alike
        # are transient from the agent's side: keep the batch and try again later.
        return Outcome("retry", error=f"{type(error).__name__}: {error}")


def _classify_http_error(error: urllib.error.HTTPError) -> Outcome:
    import http.client

    code = error.code
    try:
        detail = error.read()[:500].decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        detail = ""
    finally:
        error.close()
    text = f"HTTP {code}: {detail}"

    if code == 401:
        return Outcome("unauthorized", code, error=text)
    if code in (429, 503):
        retry_after = parse_retry_after(error.headers.get("Retry-After"), time.time())
        return Outcome("retry", code, retry_after=retry_after, error=text)
    if code in (408, 425) or code >= 500:
        return Outcome("retry", code, error=text)
    return Outcome("rejected", code, error=text)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the delay a Retry-After header requests, in seconds, or None if unusable.

    RFC 9110 allows either delay-seconds ("120") or an HTTP-date; a date in the past
    means no delay.
    """
    if value is None:
        return None
    value = value.strip()

    import email.utils

    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # HTTP-dates are in GMT, but parsedate_to_datetime returns a "-0000" zone as naive.
        when = when.replace(tzinfo=datetime.UTC)
    return _clamp(when.timestamp() - now)


def _clamp(delay: float) -> float:
    return min(max(0.0, delay), MAX_RETRY_AFTER)


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
