import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { MAX_FINGERPRINTS } from "../src/delta.js";
import { validatePingOptions } from "../src/options.js";
import { makeClient, type TestClient } from "./support/client.js";
import { StandInServer } from "./support/standin.js";
import { waitFor } from "./support/wait.js";

let server: StandInServer;
let current: TestClient | null = null;

beforeEach(async () => {
  server = new StandInServer();
  await server.start();
});

afterEach(async () => {
  await current?.client.shutdown(1000);
  current = null;
  await server.stop();
});

function start(options: Parameters<typeof makeClient>[1] = {}, deps: Parameters<typeof makeClient>[2] = {}): TestClient {
  current = makeClient(server.url, options, deps);
  current.client.start();
  return current;
}

function ping(client: TestClient, options: Parameters<typeof validatePingOptions>[0]): void {
  client.client.ping(validatePingOptions(options));
}

describe("delivery", () => {
  test("first heartbeat is sent at start", async () => {
    const { client } = start();
    const [first] = await waitFor("first heartbeat", () => server.received.length >= 1 && server.received);
    assert.equal(first!.body["agent"], "test-agent");
    assert.equal(first!.body["status"], "ok");
    assert.equal(first!.body["seq"], 1);
    assert.equal(first!.body["source"], "sdk");
    assert.equal(first!.body["instance_id"], client.instanceId);
    assert.match(client.instanceId, /^[0-9a-f]{32}$/);
    assert.equal(typeof first!.body["memory_mb"], "number");
    assert.ok(!Number.isNaN(Date.parse(first!.body["timestamp"] as string)));
  });

  test("seq increases by one per heartbeat", async () => {
    const testClient = start();
    await waitFor("first heartbeat", () => server.received.length >= 1);
    ping(testClient, { message: "second" });
    await waitFor("second heartbeat", () => server.received.length >= 2);
    ping(testClient, { message: "third" });
    await waitFor("third heartbeat", () => server.received.length >= 3);

    assert.deepEqual(server.received.map((item) => item.body["seq"]), [1, 2, 3]);
    assert.equal(new Set(server.received.map((item) => item.body["instance_id"])).size, 1);
    assert.deepEqual(server.received.map((item) => item.body["message"]), [undefined, "second", "third"]);
  });

  test("ping counters are summed and sent once", async () => {
    const testClient = start();
    await waitFor("first heartbeat", () => server.received.length >= 1);
    for (let i = 0; i < 50; i++) {
      ping(testClient, { tokensUsed: 10, costUsd: 0.01, toolCalls: 1, iterationCount: i });
    }
    await waitFor("all tokens stored", () => server.totalsOf("test-agent").tokens === 500);

    const totals = server.totalsOf("test-agent");
    assert.equal(totals.toolCalls, 50);
    assert.ok(Math.abs(totals.costUsd - 0.5) < 1e-9);
    // The pings coalesce: the loop ran within one send gap, so at most two more requests.
    assert.ok(server.received.length <= 3, `expected at most 3 requests, got ${server.received.length}`);
    assert.equal(server.received.at(-1)!.body["iteration_count"], 49);
  });

  test("status and message apply to one heartbeat only", async () => {
    const testClient = start();
    await waitFor("first heartbeat", () => server.received.length >= 1);
    ping(testClient, { status: "error", message: "disk full" });
    await waitFor("error heartbeat", () => server.received.length >= 2);
    ping(testClient, {});
    await waitFor("next heartbeat", () => server.received.length >= 3);

    assert.equal(server.received[1]!.body["status"], "error");
    assert.equal(server.received[1]!.body["message"], "disk full");
    assert.equal(server.received[2]!.body["status"], "ok");
    assert.equal(server.received[2]!.body["message"], undefined);
  });

  test("interval drives background heartbeats", async () => {
    server.minIntervalSeconds = 0;
    start({ interval: 0.2 });
    // MIN_SEND_GAP_MS (1 s) spaces requests even with a shorter interval.
    await waitFor("three heartbeats", () => server.received.length >= 3, 5000);
    const gaps = server.received.slice(1, 3).map((item, index) => item.atMs - server.received[index]!.atMs);
    for (const gap of gaps) {
      assert.ok(gap >= 950, `gap ${gap} ms is shorter than the minimum send gap`);
    }
  });

  test("server minimum interval raises the interval", async () => {
    server.minIntervalSeconds = 3;
    start({ interval: 0.2 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(server.received.length, 1);
  });
});

describe("acknowledgement", () => {
  test("counters survive a failed attempt", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "1" }, body: { detail: "Database unavailable" } });
    const testClient = start();
    testClient.client.recordCost(100, 0.25);
    await waitFor("retried heartbeat", () => server.received.length >= 2, 5000);

    const [failed, retried] = server.received;
    assert.equal(failed!.answeredStatus, 503);
    assert.equal(retried!.answeredStatus, 200);
    assert.equal(retried!.body["seq"], failed!.body["seq"]);
    assert.equal(retried!.body["tokens_used"], failed!.body["tokens_used"]);
    assert.equal(server.totalsOf("test-agent").tokens, 100);
    assert.equal(server.totalsOf("test-agent").costUsd, 0.25);
  });

  test("lost response is resent with the same seq", async () => {
    server.script.push({ kind: "store-then-drop" });
    const testClient = start();
    testClient.client.recordCost(40, 1.5);
    await waitFor("resent heartbeat", () => server.received.length >= 2, 5000);
    await waitFor("acknowledgement", () => testClient.client.stats.acknowledged >= 1);

    assert.equal(server.received[1]!.body["seq"], server.received[0]!.body["seq"]);
    assert.equal(server.received[1]!.duplicate, true);
    assert.equal(testClient.client.stats.duplicates, 1);
    assert.equal(server.totalsOf("test-agent").costUsd, 1.5);
    assert.equal(server.totalsOf("test-agent").tokens, 40);
  });

  test("outage loses no cost and counts it once", async () => {
    const port = server.port;
    await server.stop();
    const testClient = start();
    testClient.client.recordCost(1500, 0.045);
    ping(testClient, {});
    await waitFor("a failed attempt", () => testClient.client.stats.failedAttempts >= 1);

    await server.start(port);
    await waitFor("cost after the outage", () => server.totalsOf("test-agent").stored >= 1, 10_000);
    ping(testClient, {});
    await waitFor("a later heartbeat", () => server.totalsOf("test-agent").stored >= 2, 5000);

    assert.equal(server.totalsOf("test-agent").tokens, 1500);
    assert.equal(server.totalsOf("test-agent").costUsd, 0.045);
  });

  test("rejected payload is dropped and the next one sent", async () => {
    server.script.push({ kind: "respond", status: 422, body: { detail: [{ loc: ["body", "agent"], msg: "Field required", type: "missing" }] } });
    const testClient = start();
    await waitFor("rejected heartbeat", () => server.received.length >= 1);
    ping(testClient, { tokensUsed: 7 });
    await waitFor("next heartbeat", () => server.received.length >= 2, 5000);

    assert.equal(server.received[1]!.body["seq"], 2);
    assert.equal(server.received[1]!.body["tokens_used"], 7);
    assert.equal(testClient.client.stats.droppedHeartbeats, 1);
  });
});

describe("retry timing", () => {
  test("retry-after seconds delays the retry", async () => {
    server.script.push({ kind: "respond", status: 429, headers: { "retry-after": "2" }, body: { detail: "Rate limit exceeded. Retry after 2 seconds." } });
    start();
    await waitFor("retry", () => server.received.length >= 2, 6000);
    const gap = server.received[1]!.atMs - server.received[0]!.atMs;
    assert.ok(gap >= 1950, `retried after ${gap} ms, before Retry-After`);
    assert.ok(gap < 4000, `retried after ${gap} ms, long after Retry-After`);
  });

  test("retry-after HTTP-date delays the retry", async () => {
    // HTTP-dates have whole seconds, so a date 3 s ahead means 2 to 3 s from now.
    const retryAt = new Date(Date.now() + 3000).toUTCString();
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": retryAt }, body: { detail: "Service unavailable" } });
    start();
    await waitFor("retry", () => server.received.length >= 2, 7000);
    const gap = server.received[1]!.atMs - server.received[0]!.atMs;
    assert.ok(gap >= 1950, `retried after ${gap} ms, before the Retry-After date`);
    assert.ok(gap < 4500, `retried after ${gap} ms, long after the Retry-After date`);
  });

  test("server errors back off exponentially", async () => {
    for (let i = 0; i < 3; i++) {
      server.script.push({ kind: "respond", status: 500, body: { detail: "Internal Server Error" } });
    }
    // No jitter: the waits are exactly 1 s, then 2 s.
    start({}, { random: () => 0 });
    await waitFor("third attempt", () => server.received.length >= 3, 8000);
    const first = server.received[1]!.atMs - server.received[0]!.atMs;
    const second = server.received[2]!.atMs - server.received[1]!.atMs;
    assert.ok(first >= 950 && first < 1800, `first retry after ${first} ms`);
    assert.ok(second >= 1950 && second < 3000, `second retry after ${second} ms`);
  });
});

describe("rejected key", () => {
  test("401 is reported once and stops sending", async () => {
    const testClient = makeClient(server.url, { apiKey: "cv_wrong" });
    current = testClient;
    testClient.client.start();
    await waitFor("rejection", () => !testClient.client.accepting);
    ping(testClient, { tokensUsed: 5 });
    testClient.client.recordCost(1, 1);
    await new Promise((resolve) => setTimeout(resolve, 1500));

    assert.equal(server.unauthorizedRequests, 1);
    assert.equal(server.received.length, 0);
    assert.equal(testClient.stderr.length, 1);
    assert.match(testClient.stderr[0]!, /HTTP 401 \(Invalid or missing X-API-Key header\)/);
    assert.match(testClient.stderr[0]!, /CLEVAGENT_API_KEY/);
  });

  test("403 is reported once and stops sending", async () => {
    const detail = 'Agent "test-agent" is not registered in strict mode; run: clevagent agent register test-agent';
    server.script.push({ kind: "respond", status: 403, body: { detail } });
    const testClient = start();
    await waitFor("rejection", () => !testClient.client.accepting);
    ping(testClient, {});
    await new Promise((resolve) => setTimeout(resolve, 1200));

    assert.equal(server.received.length, 1);
    assert.equal(testClient.stderr.length, 1);
    assert.ok(testClient.stderr[0]!.includes(detail));
  });
});

describe("warnings", () => {
  test("loop action runs once per episode", async () => {
    const calls: unknown[] = [];
    server.warning = { type: "loop", signal: "tool_call_rate", value: 12, threshold: 10, message: "12 tool calls in the last minute" };
    const testClient = start({ onLoop: (warning) => void calls.push(warning) });
    await waitFor("first warning", () => calls.length === 1);

    ping(testClient, {});
    await waitFor("second heartbeat", () => testClient.client.stats.acknowledged >= 2, 5000);
    assert.equal(calls.length, 1);

    server.warning = null;
    ping(testClient, {});
    await waitFor("heartbeat without warning", () => testClient.client.stats.acknowledged >= 3, 5000);
    server.warning = { type: "loop", signal: "identical_messages", value: 5, threshold: 5 };
    ping(testClient, {});
    await waitFor("second episode", () => calls.length === 2, 5000);

    assert.deepEqual(calls[0], { type: "loop", signal: "tool_call_rate", value: 12, threshold: 10, message: "12 tool calls in the last minute" });
    assert.deepEqual(calls[1], { type: "loop", signal: "identical_messages", value: 5, threshold: 5 });
  });

  test("cost action alert_only writes one line", async () => {
    server.warning = { type: "cost_exceeded", signal: "daily_cost", value: 12.5, threshold: 10, message: "Daily cost $12.50 exceeds the budget of $10.00" };
    const testClient = start({ onCostExceeded: "alert_only" });
    await waitFor("warning line", () => testClient.stderr.length >= 1);
    ping(testClient, {});
    await waitFor("second heartbeat", () => testClient.client.stats.acknowledged >= 2, 5000);

    assert.deepEqual(testClient.stderr, [
      'clevagent: cost_exceeded warning for agent "test-agent" (daily_cost 12.5 > 10): Daily cost $12.50 exceeds the budget of $10.00\n',
    ]);
    assert.deepEqual(testClient.exits, []);
  });

  test("loop action stop exits with status 1", async () => {
    server.warning = { type: "loop", signal: "tool_call_rate", value: 30, threshold: 10 };
    const testClient = start();
    await waitFor("exit", () => testClient.exits.length >= 1);
    assert.deepEqual(testClient.exits, [1]);
    assert.match(testClient.stderr[0]!, /^clevagent: loop warning for agent "test-agent" \(tool_call_rate 30 > 10\); exiting with status 1 because onLoop is "stop"\n$/);
  });

  test("throwing handler stays inside the SDK", async () => {
    server.warning = { type: "loop" };
    let calls = 0;
    const testClient = start({
      onLoop: () => {
        calls += 1;
        throw new Error("handler failed");
      },
    });
    await waitFor("handler call", () => calls === 1);
    await waitFor("error counted", () => testClient.client.stats.internalErrors === 1);
    ping(testClient, { tokensUsed: 3 });
    await waitFor("next heartbeat", () => server.totalsOf("test-agent").tokens === 3, 5000);
  });

  test("rejecting handler stays inside the SDK", async () => {
    server.warning = { type: "cost_exceeded" };
    const testClient = start({ onCostExceeded: async () => Promise.reject(new Error("async handler failed")) });
    await waitFor("rejection counted", () => testClient.client.stats.internalErrors === 1);
  });

  test("unknown warning type starts no action", async () => {
    server.warning = { type: "token_budget_forecast", message: "new kind" };
    const testClient = start({ onLoop: "alert_only", onCostExceeded: "alert_only" });
    await waitFor("acknowledgement", () => testClient.client.stats.acknowledged >= 1);
    assert.deepEqual(testClient.stderr, []);
  });
});

describe("fingerprints and busy", () => {
  test("fingerprints are hashes and bounded", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "1" }, body: { detail: "down" } });
    const testClient = start();
    await waitFor("failed first attempt", () => server.received.length >= 1);
    for (let i = 0; i < MAX_FINGERPRINTS + 500; i++) {
      testClient.client.recordPrompt(`secret prompt number ${i}`);
    }
    testClient.client.recordToolCall("db_query", "SELECT * FROM orders");
    ping(testClient, {});
    await waitFor("heartbeat with fingerprints", () => server.received.find((item) => Array.isArray(item.body["fingerprints"])), 6000);

    const withPrints = server.received.find((item) => Array.isArray(item.body["fingerprints"]))!;
    const prints = withPrints.body["fingerprints"] as string[];
    assert.equal(prints.length, MAX_FINGERPRINTS);
    assert.ok(prints.every((item) => /^[0-9a-f]{64}$/.test(item)));
    assert.equal(withPrints.body["tool_calls"], 1);
    assert.ok(!JSON.stringify(server.received.map((item) => item.body)).includes("secret prompt"));
  });

  test("busy declaration is sent and cleared", async () => {
    const testClient = start();
    await waitFor("first heartbeat", () => server.received.length >= 1);
    const id = testClient.client.beginBusy("waiting for the batch job", 600);
    await waitFor("busy heartbeat", () => server.received.length >= 2, 5000);
    testClient.client.endBusy(id);
    await waitFor("clearing heartbeat", () => server.received.length >= 3, 5000);

    const declared = server.received[1]!.body;
    assert.equal(declared["busy_reason"], "waiting for the batch job");
    assert.ok((declared["busy_seconds"] as number) > 590 && (declared["busy_seconds"] as number) <= 600);
    assert.equal(server.received[2]!.body["busy_seconds"], 0);
    assert.equal(server.received[0]!.body["busy_seconds"], undefined);
  });
});

describe("shutdown", () => {
  test("final heartbeat carries status shutdown", async () => {
    const testClient = start();
    await waitFor("first heartbeat", () => server.received.length >= 1);
    testClient.client.recordCost(9, 0.09);
    await testClient.client.shutdown();

    const last = server.received.at(-1)!.body;
    assert.equal(last["status"], "shutdown");
    assert.equal(last["tokens_used"], 9);
    assert.equal(testClient.client.accepting, false);
  });

  test("shutdown resends an unacknowledged heartbeat first", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "30" }, body: { detail: "down" } });
    const testClient = start();
    testClient.client.recordCost(5, 0.5);
    await waitFor("failed attempt", () => testClient.client.stats.failedAttempts === 1);
    await testClient.client.shutdown(3000);

    // Retry-After (30 s) is past the shutdown deadline, so nothing more is sent.
    assert.equal(server.received.length, 1);
  });

  test("shutdown within retry window delivers everything", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "1" }, body: { detail: "down" } });
    const testClient = start();
    testClient.client.recordCost(5, 0.5);
    await waitFor("failed attempt", () => testClient.client.stats.failedAttempts === 1);
    testClient.client.recordCost(6, 0.25);
    await testClient.client.shutdown(4000);

    assert.deepEqual(server.received.map((item) => [item.body["seq"], item.body["status"], item.answeredStatus]), [
      [1, "ok", 503],
      [1, "ok", 200],
      [2, "shutdown", 200],
    ]);
    assert.equal(server.totalsOf("test-agent").tokens, 11);
    assert.equal(server.totalsOf("test-agent").costUsd, 0.75);
  });

  test("pings after shutdown are ignored", async () => {
    const testClient = start();
    await testClient.client.shutdown();
    const count = server.received.length;
    ping(testClient, { tokensUsed: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(server.received.length, count);
  });
});
