import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { MAX_FINGERPRINTS } from "../src/state.js";
import { makeClient, type TestClient } from "./support/client.js";
import { StandInServer } from "./support/standin.js";
import { waitFor } from "./support/wait.js";

let server: StandInServer;
let current: TestClient | null = null;

beforeEach(async () => {
  server = new StandInServer();
  server.minIntervalSeconds = 0;
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

function bodies(): Record<string, unknown>[] {
  return server.received.map((item) => item.body);
}

describe("delivery", () => {
  test("first heartbeat is sent at start", async () => {
    const { client } = start({ interval: 60 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    const first = bodies()[0]!;

    assert.equal(first["agent"], "test-agent");
    assert.equal(first["status"], "ok");
    assert.equal(first["seq"], 1);
    assert.equal(first["source"], "sdk");
    assert.equal(first["instance_id"], client.state.instanceId);
    assert.match(client.state.instanceId, /^[0-9a-f]{32}$/);
    assert.equal(first["tokens_used"], 0);
    assert.equal(first["tool_calls"], 0);
    assert.equal(first["busy_seconds"], 0);
    assert.equal(first["cost_usd"], undefined);
    assert.equal(typeof first["memory_mb"], "number");
    assert.ok(!Number.isNaN(Date.parse(first["timestamp"] as string)));
  });

  test("seq increases by one per heartbeat", async () => {
    const { client } = start();
    await waitFor("three heartbeats", () => server.received.length >= 3, 5000);

    assert.deepEqual(bodies().slice(0, 3).map((body) => body["seq"]), [1, 2, 3]);
    assert.equal(new Set(bodies().map((body) => body["instance_id"])).size, 1);
    assert.equal(client.stats.acknowledged >= 3, true);
  });

  test("interval spaces heartbeats with jitter", async () => {
    start({ interval: 1 });
    await waitFor("three heartbeats", () => server.received.length >= 3, 5000);
    for (const index of [1, 2]) {
      const gap = server.received[index]!.atMs - server.received[index - 1]!.atMs;
      assert.ok(gap >= 880, `gap ${gap} ms is shorter than 1 s - 10%`);
      assert.ok(gap <= 1600, `gap ${gap} ms is much longer than 1 s + 10%`);
    }
  });

  test("server minimum interval raises the interval", async () => {
    server.minIntervalSeconds = 3;
    start({ interval: 1 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 1800));
    assert.equal(server.received.length, 1);
  });

  test("ping counters are summed per heartbeat", async () => {
    const testClient = start({ interval: 60 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    for (let i = 0; i < 50; i++) {
      testClient.ping({ tokensUsed: 10, costUsd: 0.01, toolCalls: 1 });
    }
    await testClient.client.shutdown();

    const last = bodies().at(-1)!;
    assert.equal(server.received.length, 2);
    assert.equal(last["tokens_used"], 500);
    assert.equal(last["tool_calls"], 50);
    assert.equal(last["cost_usd"], 0.5);
    assert.equal(last["iteration_count"], 50);
  });

  test("status repeats and message is sent once", async () => {
    const testClient = start();
    await waitFor("first heartbeat", () => server.received.length >= 1);
    testClient.ping({ status: "error", message: "disk full", iterationCount: 7, memoryMb: 512 });
    await waitFor("two more heartbeats", () => server.received.length >= 3, 5000);

    const [, reported, repeated] = bodies();
    assert.equal(reported!["status"], "error");
    assert.equal(reported!["message"], "disk full");
    assert.equal(reported!["iteration_count"], 7);
    assert.equal(reported!["memory_mb"], 512);
    assert.equal(repeated!["status"], "error");
    assert.equal(repeated!["message"], undefined);
    assert.equal(repeated!["iteration_count"], 7);
    assert.equal(repeated!["memory_mb"], 512);
  });

  test("iteration advances without a number", async () => {
    const testClient = start({ interval: 60 });
    testClient.ping();
    testClient.ping();
    testClient.client.recordIteration(undefined);
    await testClient.client.shutdown();
    assert.equal(bodies().at(-1)!["iteration_count"], 3);
  });
});

describe("acknowledgement", () => {
  test("counters survive a failed attempt", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "1" }, body: { detail: "Database unavailable" } });
    const testClient = start({ interval: 60 });
    testClient.client.recordCost(100, 0.25);
    await waitFor("retried heartbeat", () => server.received.length >= 2, 5000);

    const [failed, retried] = server.received;
    assert.equal(failed!.answeredStatus, 503);
    assert.equal(retried!.answeredStatus, 200);
    assert.equal(retried!.body["seq"], failed!.body["seq"]);
    assert.equal(retried!.body["tokens_used"], 100);
    assert.equal(server.totalsOf("test-agent").tokens, 100);
    assert.equal(server.totalsOf("test-agent").costUsd, 0.25);
  });

  test("lost response is resent with the same seq", async () => {
    server.script.push({ kind: "store-then-drop" });
    const testClient = start({ interval: 60 });
    testClient.client.recordCost(40, 1.5);
    await waitFor("acknowledgement", () => testClient.client.stats.acknowledged >= 1, 5000);

    assert.equal(server.received.length, 2);
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
    await waitFor("a failed attempt", () => testClient.client.stats.failedAttempts >= 1);
    testClient.client.recordCost(500, 0.005);

    await server.start(port);
    await waitFor("cost after the outage", () => server.totalsOf("test-agent").tokens === 2000, 10_000);
    await waitFor("one more heartbeat", () => server.totalsOf("test-agent").stored >= 3, 5000);

    assert.equal(server.totalsOf("test-agent").tokens, 2000);
    assert.equal(Math.round(server.totalsOf("test-agent").costUsd * 1e6), 50_000);
  });

  test("piled-up counters go out at once after an outage", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "1" }, body: { detail: "down" } });
    const testClient = start({ interval: 30 });
    await waitFor("failed attempt", () => testClient.client.stats.failedAttempts === 1);
    testClient.client.recordCost(3, 0.03);
    await waitFor("both batches", () => server.totalsOf("test-agent").tokens === 3, 5000);
    assert.deepEqual(server.received.map((item) => item.body["seq"]), [1, 1, 2]);
  });

  test("rejected payload is dropped and reported once", async () => {
    const detail = [{ loc: ["body", "agent"], msg: "Field required", type: "missing" }];
    server.script.push({ kind: "respond", status: 422, body: { detail } });
    server.script.push({ kind: "respond", status: 422, body: { detail } });
    const testClient = start();
    testClient.client.recordCost(7, 0);
    await waitFor("third heartbeat", () => server.received.length >= 3, 5000);

    assert.deepEqual(server.received.map((item) => item.body["seq"]), [1, 2, 3]);
    assert.equal(server.totalsOf("test-agent").tokens, 0);
    assert.equal(testClient.client.state.drops.get("http_422"), 2);
    assert.equal(testClient.stderr.length, 1);
    assert.match(testClient.stderr[0]!, /^clevagent: the server rejected a heartbeat of agent "test-agent": HTTP 422: \[\{"loc":\["body","agent"\]/);
  });

  test("403 drops the heartbeat and keeps sending", async () => {
    const detail = 'Agent "test-agent" is not registered and the project is in strict mode; register it with: clevagent agent register test-agent';
    server.script.push({ kind: "respond", status: 403, body: { detail } });
    const testClient = start();
    await waitFor("second heartbeat", () => server.received.length >= 2, 5000);
    assert.equal(testClient.stderr.length, 1);
    assert.ok(testClient.stderr[0]!.includes(detail));
    assert.equal(server.received[1]!.answeredStatus, 200);
  });
});

describe("retry timing", () => {
  test("retry-after seconds delays the retry", async () => {
    server.script.push({ kind: "respond", status: 429, headers: { "retry-after": "2" }, body: { detail: "Rate limit exceeded. Retry after 2 seconds." } });
    start();
    await waitFor("retry", () => server.received.length >= 2, 6000);
    const gap = server.received[1]!.atMs - server.received[0]!.atMs;
    assert.ok(gap >= 1950, `retried after ${gap} ms, before Retry-After`);
    assert.ok(gap < 4500, `retried after ${gap} ms, long after Retry-After`);
  });

  test("retry-after HTTP-date delays the retry", async () => {
    // HTTP-dates have whole seconds, so a date 3 s ahead means 2 to 3 s from now.
    const retryAt = new Date(Date.now() + 3000).toUTCString();
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": retryAt }, body: { detail: "Service unavailable" } });
    start();
    await waitFor("retry", () => server.received.length >= 2, 7000);
    const gap = server.received[1]!.atMs - server.received[0]!.atMs;
    assert.ok(gap >= 1950, `retried after ${gap} ms, before the Retry-After date`);
    assert.ok(gap < 5000, `retried after ${gap} ms, long after the Retry-After date`);
  });

  test("server errors back off exponentially", async () => {
    for (let i = 0; i < 3; i++) {
      server.script.push({ kind: "respond", status: 500, body: { detail: "Internal Server Error" } });
    }
    // random() = 1 takes the full ceiling: 1 s, then 2 s (the interval of 10 s caps later ones).
    start({ interval: 10 }, { random: () => 1 });
    await waitFor("third attempt", () => server.received.length >= 3, 8000);
    const first = server.received[1]!.atMs - server.received[0]!.atMs;
    const second = server.received[2]!.atMs - server.received[1]!.atMs;
    assert.ok(first >= 950, `first retry after ${first} ms, before 1 s`);
    assert.ok(first < 1900, `first retry after ${first} ms, long after 1 s`);
    assert.ok(second >= 1950, `second retry after ${second} ms, before 2 s`);
    assert.ok(second < 3200, `second retry after ${second} ms, long after 2 s`);
  });
});

describe("diagnostics", () => {
  test("debug writes retries to stderr", async () => {
    server.script.push({ kind: "respond", status: 500, body: { detail: "Internal Server Error" } });
    const testClient = start({ debug: true });
    await waitFor("retry", () => server.received.length >= 2, 5000);
    assert.match(testClient.stderr[0]!, /^clevagent: debug: heartbeat seq 1 failed \(HTTP 500: Internal Server Error\), retrying in \d\.\d s\n$/);
  });

  test("without debug a retry prints nothing", async () => {
    server.script.push({ kind: "respond", status: 500, body: { detail: "Internal Server Error" } });
    const testClient = start();
    await waitFor("retry", () => server.received.length >= 2, 5000);
    assert.deepEqual(testClient.stderr, []);
  });
});

describe("unauthorized", () => {
  test("401 is reported once and stops sending", async () => {
    const testClient = makeClient(server.url, { apiKey: "cv_wrong" });
    current = testClient;
    testClient.client.start();
    await waitFor("rejection", () => !testClient.client.accepting);
    testClient.ping({ tokensUsed: 5 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await testClient.client.shutdown(), false);

    assert.equal(server.unauthorizedRequests, 1);
    assert.equal(server.received.length, 0);
    assert.deepEqual(testClient.stderr, [
      'clevagent: the server rejected the API key of agent "test-agent" (HTTP 401: Invalid or missing X-API-Key header); heartbeats stop until init() is called with a valid key\n',
    ]);
  });
});

describe("warnings", () => {
  test("loop action runs once per episode", async () => {
    const calls: unknown[] = [];
    server.warning = { type: "loop", signal: "tool_call_rate", value: 12, threshold: 10, message: "12 tool calls in the last minute" };
    const testClient = start({ onLoop: (warning) => void calls.push(warning) });
    await waitFor("first warning", () => calls.length === 1);
    await waitFor("second heartbeat", () => testClient.client.stats.acknowledged >= 2, 5000);
    assert.equal(calls.length, 1);

    server.warning = null;
    const acknowledged = testClient.client.stats.acknowledged;
    await waitFor("heartbeat without warning", () => testClient.client.stats.acknowledged > acknowledged, 5000);
    server.warning = { type: "loop", signal: "identical_messages", value: 5, threshold: 5 };
    await waitFor("second episode", () => calls.length === 2, 5000);

    assert.deepEqual(calls[0], { type: "loop", signal: "tool_call_rate", value: 12, threshold: 10, message: "12 tool calls in the last minute" });
    assert.deepEqual(calls[1], { type: "loop", signal: "identical_messages", value: 5, threshold: 5 });
  });

  test("cost alert_only writes one line", async () => {
    server.warning = { type: "cost_exceeded", signal: "daily_cost", value: 12.5, threshold: 10, message: "Daily cost $12.50 exceeds the budget of $10.00" };
    const testClient = start({ onCostExceeded: "alert_only" });
    await waitFor("two heartbeats", () => testClient.client.stats.acknowledged >= 2, 5000);

    assert.deepEqual(testClient.stderr, [
      'clevagent: cost budget exceeded for agent "test-agent": Daily cost $12.50 exceeds the budget of $10.00; the agent keeps running\n',
    ]);
    assert.deepEqual(testClient.exits, []);
  });

  test("loop stop sends a final heartbeat and exits 1", async () => {
    server.warning = { type: "loop", signal: "tool_call_rate", value: 30, threshold: 10 };
    const testClient = start();
    await waitFor("exit", () => testClient.exits.length >= 1);

    assert.deepEqual(testClient.exits, [1]);
    assert.deepEqual(testClient.stderr, ['clevagent: loop detected for agent "test-agent": tool_call_rate; stopping the process (onLoop is "stop")\n']);
    const last = bodies().at(-1)!;
    assert.equal(last["status"], "shutdown");
    assert.equal(last["message"], "stopped by the clevagent SDK after a server warning");
  });

  test("other warning type ends the episode", async () => {
    const calls: unknown[] = [];
    server.warning = { type: "loop" };
    const testClient = start({ onLoop: () => void calls.push(1) });
    await waitFor("first call", () => calls.length === 1);
    server.warning = { type: "token_spike_forecast" };
    const acknowledged = testClient.client.stats.acknowledged;
    await waitFor("heartbeat with the other type", () => testClient.client.stats.acknowledged > acknowledged, 5000);
    server.warning = { type: "loop" };
    await waitFor("second call", () => calls.length === 2, 5000);
    assert.deepEqual(testClient.stderr, []);
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
    await waitFor("error counted", () => testClient.client.stats.internalErrors === 1);
    testClient.client.recordCost(3, 0);
    await waitFor("next heartbeat", () => server.totalsOf("test-agent").tokens === 3, 5000);
    assert.equal(calls, 1);
  });

  test("rejecting handler stays inside the SDK", async () => {
    server.warning = { type: "budget" };
    const testClient = start({ onCostExceeded: async () => Promise.reject(new Error("async handler failed")) });
    await waitFor("rejection counted", () => testClient.client.stats.internalErrors === 1);
  });
});

describe("fingerprints and busy", () => {
  test("fingerprints are hashes and bounded", async () => {
    const testClient = start({ interval: 60 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    for (let i = 0; i < MAX_FINGERPRINTS + 500; i++) {
      testClient.client.recordPrompt(`secret prompt number ${i}`);
    }
    testClient.client.recordToolCall("db_query", "SELECT * FROM orders");
    await testClient.client.shutdown();

    const last = bodies().at(-1)!;
    const prints = last["fingerprints"] as string[];
    assert.equal(prints.length, MAX_FINGERPRINTS);
    assert.ok(prints.every((item) => /^[0-9a-f]{64}$/.test(item)));
    assert.equal(last["tool_calls"], 1);
    assert.equal(testClient.client.state.drops.get("fingerprint_overflow"), 501);
    assert.ok(!JSON.stringify(bodies()).includes("secret prompt"));
    assert.ok(!JSON.stringify(bodies()).includes("orders"));
  });

  test("busy is sent at once and cleared", async () => {
    const testClient = start({ interval: 2 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    const id = testClient.client.beginBusy("waiting for the batch job", 600);
    await waitFor("busy heartbeat", () => server.received.length >= 2, 1000);
    testClient.client.endBusy(id);
    await waitFor("clearing heartbeat", () => server.received.length >= 3, 5000);

    const declared = bodies()[1]!;
    assert.equal(declared["busy_reason"], "waiting for the batch job");
    const busySeconds = declared["busy_seconds"] as number;
    assert.ok(busySeconds > 599, `busy_seconds ${busySeconds}`);
    assert.ok(busySeconds <= 600, `busy_seconds ${busySeconds}`);
    assert.equal(bodies()[2]!["busy_seconds"], 0);
    assert.equal(bodies()[2]!["busy_reason"], undefined);
  });
});

describe("shutdown", () => {
  test("final heartbeat carries status shutdown", async () => {
    const testClient = start({ interval: 60 });
    await waitFor("first heartbeat", () => server.received.length >= 1);
    testClient.client.recordCost(9, 0.09);

    assert.equal(await testClient.client.shutdown(), true);
    const last = bodies().at(-1)!;
    assert.equal(last["status"], "shutdown");
    assert.equal(last["tokens_used"], 9);
    assert.equal(testClient.client.accepting, false);
  });

  test("shutdown sends the unacknowledged batch first", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "30" }, body: { detail: "down" } });
    const testClient = start({ interval: 60 });
    testClient.client.recordCost(5, 0.5);
    await waitFor("failed attempt", () => testClient.client.stats.failedAttempts === 1);
    testClient.client.recordCost(6, 0.25);

    assert.equal(await testClient.client.shutdown(), true);
    assert.deepEqual(server.received.map((item) => [item.body["seq"], item.body["status"], item.answeredStatus]), [
      [1, "ok", 503],
      [1, "ok", 200],
      [2, "shutdown", 200],
    ]);
    assert.equal(server.totalsOf("test-agent").tokens, 11);
    assert.equal(server.totalsOf("test-agent").costUsd, 0.75);
  });

  test("shutdown gives up at the deadline", async () => {
    const port = server.port;
    await server.stop();
    const testClient = start({ interval: 60 });
    await waitFor("failed attempt", () => testClient.client.stats.failedAttempts === 1);
    const started = performance.now();
    assert.equal(await testClient.client.shutdown(500), false);
    assert.ok(performance.now() - started < 1000);
    await server.start(port);
  });

  test("no heartbeats after shutdown", async () => {
    const testClient = start({ interval: 1 });
    await testClient.client.shutdown();
    const count = server.received.length;
    await new Promise((resolve) => setTimeout(resolve, 1300));
    assert.equal(server.received.length, count);
  });
});
