import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import clevagent, { busy, init, logCost, logIteration, logPrompt, logToolCall, ping, shutdown } from "../src/index.js";
import { StandInServer, VALID_KEY } from "./support/standin.js";
import { waitFor } from "./support/wait.js";

let server: StandInServer;

before(async () => {
  server = new StandInServer();
  server.minIntervalSeconds = 0;
  await server.start();
});

afterEach(async () => {
  await shutdown({ timeoutMs: 1000 });
});

after(async () => {
  await server.stop();
});

function initAgent(agent: string, options: Partial<Parameters<typeof init>[0]> = {}): void {
  init({ apiKey: VALID_KEY, agent, endpoint: server.url, interval: 60, ...options });
}

describe("before init", () => {
  test("calls are accepted and ignored", async () => {
    ping({ tokensUsed: 5 });
    logPrompt("hello");
    logToolCall("search", { q: "x" });
    logIteration(3);
    const result = logCost(10, 0.1);
    assert.equal(result.ok, false);
    assert.match(result.error!, /clevagent.init\(\) has not been called/);
    assert.equal(await busy("slow", 10, () => "value"), "value");
    assert.equal(await shutdown(), true);
  });
});

describe("argument validation", () => {
  test("init rejects invalid options", () => {
    const cases: [unknown, ErrorConstructor, RegExp][] = [
      [undefined, TypeError, /expects an options object/],
      [{ agent: "a" }, TypeError, /apiKey must be a non-empty string/],
      [{ apiKey: "cv_x" }, TypeError, /agent must be a non-empty string/],
      [{ apiKey: "cv_x", agent: "x".repeat(129) }, RangeError, /at most 128 characters, got 129/],
      [{ apiKey: "cv_x", agent: " padded" }, RangeError, /no leading or trailing spaces/],
      [{ apiKey: "cv_x", agent: "tab\there" }, RangeError, /no control characters/],
      [{ apiKey: "cv_x", agent: "a", interval: 0.5 }, RangeError, /interval must be at least 1 second, got 0.5/],
      [{ apiKey: "cv_x", agent: "a", interval: "60" }, TypeError, /interval must be a number of seconds/],
      [{ apiKey: "cv_x", agent: "a", endpoint: "ftp://example" }, TypeError, /endpoint must be an http:\/\/ or https:\/\/ URL/],
      [{ apiKey: "cv_x", agent: "a", endpoint: "not a url" }, TypeError, /endpoint must be an http/],
      [{ apiKey: "cv_x", agent: "a", onLoop: "exit" }, TypeError, /onLoop must be "alert_only", "stop" or a function, got "exit"/],
      [{ apiKey: "cv_x", agent: "a", onCostExceeded: 1 }, TypeError, /onCostExceeded must be/],
      [{ apiKey: "cv_x", agent: "a", agentType: "" }, TypeError, /agentType must be a string of 1 to 64 characters/],
    ];
    for (const [options, type, message] of cases) {
      assert.throws(() => init(options as Parameters<typeof init>[0]), (error: unknown) => {
        assert.ok(error instanceof type, `${JSON.stringify(options)} threw ${String(error)}`);
        assert.match((error as Error).message, message);
        return true;
      });
    }
  });

  test("ping rejects invalid values", () => {
    initAgent("validation-agent");
    assert.throws(() => ping({ status: "fine" as "ok" }), RangeError);
    assert.throws(() => ping({ tokensUsed: -1 }), RangeError);
    assert.throws(() => ping({ tokensUsed: 1.5 }), RangeError);
    assert.throws(() => ping({ costUsd: Number.NaN }), RangeError);
    assert.throws(() => ping({ costUsd: "0.1" as unknown as number }), TypeError);
    assert.throws(() => ping({ message: 42 as unknown as string }), TypeError);
    assert.doesNotThrow(() => ping({ tokensUsed: undefined, costUsd: null }));
  });

  test("other calls reject invalid values", () => {
    initAgent("validation-agent");
    assert.throws(() => logPrompt(undefined as unknown as string), TypeError);
    assert.throws(() => logToolCall(""), TypeError);
    assert.throws(() => logIteration(-2), RangeError);
    assert.throws(() => busy("reason", 0, () => 1), RangeError);
    assert.throws(() => busy("reason", 10, "fn" as unknown as () => number), TypeError);
    assert.throws(() => shutdown({ timeoutMs: -1 }), RangeError);
  });

  test("logCost reports invalid values without throwing", () => {
    initAgent("validation-agent");
    assert.deepEqual(logCost(-1, 0.1), {
      ok: false,
      tokens: -1,
      costUsd: 0.1,
      error: "clevagent.logCost(): tokens must be a non-negative integer, got -1",
    });
    assert.equal(logCost(1, Number.POSITIVE_INFINITY).ok, false);
    assert.deepEqual(logCost(1500, 0.045), { ok: true, tokens: 1500, costUsd: 0.045 });
  });
});

describe("public API", () => {
  test("default export has every function", () => {
    assert.deepEqual(Object.keys(clevagent).sort(), ["busy", "init", "logCost", "logIteration", "logPrompt", "logToolCall", "ping", "shutdown"]);
  });

  test("endpoint comes from CLEVAGENT_ENDPOINT", async () => {
    process.env["CLEVAGENT_ENDPOINT"] = `${server.url}/`;
    try {
      init({ apiKey: VALID_KEY, agent: "env-endpoint-agent" });
    } finally {
      delete process.env["CLEVAGENT_ENDPOINT"];
    }
    await waitFor("heartbeat", () => server.heartbeatsOf("env-endpoint-agent").length >= 1);
  });

  test("second init replaces the first", async () => {
    initAgent("first-agent");
    logCost(5, 0.05);
    initAgent("second-agent");
    await waitFor("final heartbeat of the first", () => server.heartbeatsOf("first-agent").some((item) => item.body["status"] === "shutdown"));
    await waitFor("heartbeat of the second", () => server.heartbeatsOf("second-agent").length >= 1);
    assert.equal(server.totalsOf("first-agent").tokens, 5);
  });

  test("busy returns and rethrows what fn does", async () => {
    initAgent("busy-agent");
    const declared = (): boolean => server.heartbeatsOf("busy-agent").some((item) => item.body["busy_reason"] === "slow tool");
    // busy() sends the declaration at once, also while the first heartbeat is on its way.
    const result = await busy("slow tool", 30, async () => {
      await waitFor("busy heartbeat", declared, 3000);
      return 42;
    });
    assert.equal(result, 42);
    await assert.rejects(busy("failing tool", 30, () => Promise.reject(new Error("tool failed"))), /tool failed/);
  });

  test("shutdown resolves true when acknowledged", async () => {
    initAgent("shutdown-agent");
    ping({ message: "last words" });
    assert.equal(await shutdown(), true);
    assert.equal(logCost(1, 0).ok, false);
    const last = server.heartbeatsOf("shutdown-agent").at(-1)!.body;
    assert.equal(last["status"], "shutdown");
    assert.equal(last["message"], "last words");
  });
});
