import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, test } from "node:test";
import { canonicalJson, normaliseWhitespace, promptFingerprint, toolCallFingerprint } from "../src/fingerprint.js";

const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

describe("prompt fingerprint", () => {
  test("is the SHA-256 of the collapsed text", () => {
    assert.equal(promptFingerprint("  Summarize\tthe Q3\n\nearnings report "), sha256("Summarize the Q3 earnings report"));
  });

  test("ignores whitespace differences only", () => {
    assert.equal(promptFingerprint("a b"), promptFingerprint("a \u00a0\u3000 b"));
    assert.notEqual(promptFingerprint("Hello"), promptFingerprint("hello"));
  });

  test("uses Python's whitespace set", () => {
    assert.equal(normaliseWhitespace("a\x1cb\x85c"), "a b c");
    assert.equal(normaliseWhitespace("a\ufeffb"), "a\ufeffb");
  });
});

describe("tool call fingerprint", () => {
  test("joins name and canonical JSON", () => {
    assert.equal(toolCallFingerprint("db_query", "SELECT * FROM orders"), sha256('db_query\n"SELECT * FROM orders"'));
    assert.equal(toolCallFingerprint("noop", undefined), sha256("noop\nnull"));
  });

  test("ignores key order and JSON spacing", () => {
    const fromObject = toolCallFingerprint("search", { b: 1, a: { d: [1, 2], c: "é" } });
    assert.equal(fromObject, toolCallFingerprint("search", '{"a": {"c": "é", "d": [1, 2]}, "b": 1}'));
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 2], c: "é" } }), '{"a":{"c":"é","d":[1,2]},"b":1}');
  });

  test("cycles and bigints do not throw", () => {
    const cyclic: Record<string, unknown> = { name: "x" };
    cyclic["self"] = cyclic;
    assert.equal(canonicalJson(cyclic), '{"name":"x","self":"[Circular]"}');
    assert.equal(canonicalJson({ big: 10n }), '{"big":"10"}');
  });
});

// The formulas are a wire contract shared with the Python SDK in ../python: the same
// inputs must give the same hashes there, or loop detection would split by language.
describe("agreement with the Python SDK", () => {
  const python = process.env["CLEVAGENT_PYTHON"] ?? "python3";
  const cases = {
    prompts: ["Summarize the Q3 earnings report", "  spaced \t out\n", "a\x1cb\x85c\u3000d", "ünïcödé ✓ 🚀"],
    toolCalls: [
      ["db_query", "SELECT * FROM orders"],
      ["search", { q: "weather", limit: 3, filters: { z: true, a: null } }],
      ["search", '{"limit": 3, "q": "weather"}'],
      ["noop", null],
      ["emoji", { text: "naïve 🚀", list: [1, "two", 3.5] }],
    ],
  };

  test("same hashes for the same inputs", () => {
    const script = [
      "import json, sys",
      "from clevagent._fingerprint import prompt_fingerprint, tool_call_fingerprint",
      "cases = json.load(sys.stdin)",
      "print(json.dumps({'prompts': [prompt_fingerprint(p) for p in cases['prompts']],",
      "                  'toolCalls': [tool_call_fingerprint(n, a) for n, a in cases['toolCalls']]}))",
    ].join("\n");
    const output = execFileSync(python, ["-c", script], {
      input: JSON.stringify(cases),
      env: { ...process.env, PYTHONPATH: join(__dirname, "..", "..", "..", "python") },
      encoding: "utf8",
    });
    const expected = JSON.parse(output) as { prompts: string[]; toolCalls: string[] };

    assert.deepEqual(cases.prompts.map((prompt) => promptFingerprint(prompt)), expected.prompts);
    assert.deepEqual(cases.toolCalls.map(([name, args]) => toolCallFingerprint(name as string, args)), expected.toolCalls);
  });
});
