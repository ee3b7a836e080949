/**
 * Fingerprints of prompts and tool calls: SHA-256 hashes that let the server spot
 * repeats while the text never leaves the process. Both formulas are part of the wire
 * contract, and the Python SDK computes them the same way:
 *
 * - prompt: SHA-256 hex of the UTF-8 text with runs of whitespace collapsed to one space
 *   and leading and trailing whitespace removed. Whitespace is what Python's str.split()
 *   splits on, which differs from JavaScript's \s.
 * - tool call: SHA-256 hex of `name + "\n" + canonical JSON of the arguments`. Canonical
 *   JSON sorts object keys and has no spaces; non-ASCII characters stay as they are.
 *   Arguments given as a string that parses as JSON are parsed first, so '{"b": 1, "a": 2}'
 *   and {a: 2, b: 1} match. Absent arguments are null.
 *
 * NOTE: numbers are written as JavaScript writes them, so a float with an integral value
 * (2.0 in Python, 2 here) and exponents (1e-07 against 1e-7) hash differently in the two SDKs.
 */
import { createHash } from "node:crypto";

// The characters Python's str.isspace() accepts: JavaScript's \s lacks U+001C to U+001F
// and U+0085, and has U+FEFF, which Python does not count as whitespace.
const PYTHON_WHITESPACE = /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

/** Collapses whitespace runs to one space and trims the ends, as Python's " ".join(text.split()) does. */
export function normaliseWhitespace(text: string): string {
  return text.split(PYTHON_WHITESPACE).filter((word) => word !== "").join(" ");
}

/** Returns the fingerprint (64 hex digits) of a prompt. */
export function promptFingerprint(prompt: string): string {
  return sha256Hex(normaliseWhitespace(prompt));
}

/** Returns the fingerprint of a tool call from its name and arguments. */
export function toolCallFingerprint(name: string, args: unknown): string {
  return sha256Hex(`${name}\n${canonicalJson(args)}`);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Returns the canonical JSON text of tool-call arguments (sorted keys, no spaces). */
export function canonicalJson(args: unknown): string {
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      // Not JSON: the string itself is the argument.
    }
  }

  const seen = new WeakSet<object>();
  const replacer = (_key: string, value: unknown): unknown => {
    if (typeof value === "bigint") {
      return value.toString();
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return value;
    }
    // A cycle would make JSON.stringify throw, and nothing may throw into the agent.
    if (seen.has(value)) {
      return "[Circular]";
    }
    seen.add(value);
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      sorted[key] = (value as Record<string, unknown>)[key];
    }
    return sorted;
  };

  try {
    return JSON.stringify(args, replacer) ?? "null";
  } catch {
    // A throwing toJSON method ends here.
    return JSON.stringify(String(args));
  }
}
