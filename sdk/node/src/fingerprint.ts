import { createHash } from "node:crypto";

/**
 * Normalises text before hashing, so that prompts which differ only in Unicode form,
 * letter case or whitespace count as identical: NFKC, lower case, runs of whitespace
 * collapsed to one space, and no leading or trailing whitespace.
 */
export function normaliseText(text: string): string {
  return text.normalize("NFKC").toLowerCase().trim().split(/\s+/u).join(" ");
}

/** Returns the SHA-256 fingerprint (64 hex digits) of a prompt. The text never leaves the process. */
export function promptFingerprint(prompt: string): string {
  return sha256Hex(`prompt\n${normaliseText(prompt)}`);
}

/**
 * Returns the SHA-256 fingerprint of a tool call. The kind prefix keeps a tool call
 * from matching a prompt with the same text. Arguments that are not a string are
 * serialised as JSON with sorted object keys, so key order does not change the hash.
 */
export function toolCallFingerprint(name: string, args: unknown): string {
  const argsText = args === undefined ? "" : typeof args === "string" ? args : canonicalJson(args);
  return sha256Hex(`tool\n${normaliseText(name)}\n${normaliseText(argsText)}`);
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Serialises a value as JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  const seen = new WeakSet<object>();

  const sortKeys = (_key: string, item: unknown): unknown => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      return item;
    }
    // A cycle would make JSON.stringify throw, and nothing may throw into the agent.
    if (seen.has(item)) {
      return "[Circular]";
    }
    seen.add(item);
    const sorted: Record<string, unknown> = {};
    for (const name of Object.keys(item).sort()) {
      sorted[name] = (item as Record<string, unknown>)[name];
    }
    return sorted;
  };

  try {
    return JSON.stringify(value, sortKeys) ?? String(value);
  } catch {
    // BigInt values and throwing toJSON methods end here.
    return String(value);
  }
}
