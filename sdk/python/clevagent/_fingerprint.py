"""Fingerprints of prompts and tool calls: hashes that let the server spot repeats.

The text itself never leaves the process. Both formulas are part of the wire contract,
so every SDK must compute them the same way:

- prompt: SHA-256 hex of the text with runs of whitespace collapsed to one space and
  leading and trailing whitespace removed, encoded as UTF-8.
- tool call: SHA-256 hex of ``name + "\\n" + canonical JSON of the arguments``, where
  canonical JSON sorts object keys, uses "," and ":" without spaces and keeps non-ASCII
  characters as they are. Arguments given as a JSON string are parsed first, so
  '{"b": 1, "a": 2}' and {"a": 2, "b": 1} match.
"""

from __future__ import annotations

import hashlib
import json


def prompt_fingerprint(text: str) -> str:
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def tool_call_fingerprint(name: str, arguments: object) -> str:
    canonical = canonical_json(arguments)
    return hashlib.sha256(f"{name}\n{canonical}".encode()).hexdigest()


def canonical_json(arguments: object) -> str:
    """Return the canonical JSON text of tool-call arguments."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    return json.dumps(
        arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
