"""Text cleaning for values that end up in PostgreSQL text columns.

PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate (which JSON's
\\uD800 escapes can produce), so both are replaced instead of failing the heartbeat.
"""

from typing import Any

REPLACEMENT = "\ufffd"
TRUNCATION_MARK = "…"


def clean_text(value: Any) -> Any:
    """Drop NUL characters and replace lone surrogates; leave non-strings to the validator."""
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join(REPLACEMENT if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value


def truncate(value: str, max_chars: int) -> tuple[str, bool]:
    """Cut value to at most max_chars code points, ending with a mark when it was cut."""
    if len(value) <= max_chars:
        return value, False
    return value[: max_chars - len(TRUNCATION_MARK)] + TRUNCATION_MARK, True
