import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import clevagent from "../src/index.js";
import { makeClient } from "./support/client.js";
import { IngestServer } from "./support/server.js";
import { waitFor, waitForAsync } from "./support/wait.js";

// These tests run against the real ingest server (clevagent serve) on a real PostgreSQL.
let server: IngestServer;

before(async () => {
  server = await IngestServer.create();
});

after(async () => {
  await clevagent.shutdown({ timeoutMs: 1000 });
  await server?.destroy();
});

function heartbeatStatuses(agent: string): string[] {
  const rows = server.query(
    `SELECT h.status FROM heartbeats h JOIN agents a ON a.id = h.agent_id WHERE a.name = '${agent}' ORDER BY h.time`,
  );
  return rows === "" ? [] : rows.split("\n");
}

describe("real ingest server", () => {
  test("agent appears in the status API", async () => {
    clevagent.init({ apiKey: server.apiKey, agent: "node-status-agent", endpoint: server.url, agentType: "node-test" });
    clevagent.logCost(1500, 0.045);
    clevagent.logPrompt("Summarize the Q3 earnings report");
    clevagent.logToolCall("db_query", "SELECT * FROM orders");
    assert.equal(await clevagent.shutdown(), true);

    const agent = await server.statusAgent("node-status-agent");
    assert.ok(agent, "the agent is missing from GET /api/v1/status");
    assert.equal(agent.agent_type, "node-test");
    assert.equal(agent.tokens_today, 1500);
    assert.equal(agent.cost_usd_today, 0.045);
    assert.deepEqual(heartbeatStatuses("node-status-agent").at(-1), "shutdown");
    const prints = server.query(
      "SELECT array_length(h.fingerprints, 1) FROM heartbeats h JOIN agents a ON a.id = h.agent_id WHERE a.name = 'node-status-agent' AND h.fingerprints IS NOT NULL",
    );
    assert.equal(prints, "2");
  });

  test("outage loses no cost and counts it once", async () => {
    // The client itself, not init(), so the test can see when an attempt failed.
    const { client } = makeClient(server.url, { apiKey: server.apiKey, agent: "node-outage-agent", interval: 1 });
    client.start();
    await waitForAsync("first heartbeat", async () => (await server.statusAgent("node-outage-agent")) !== undefined);

    await server.stop();
    client.recordCost(2000, 0.5);
    await waitFor("a failed attempt", () => client.stats.failedAttempts >= 1, 20_000);
    await server.start();

    await waitForAsync("cost after the outage", async () => (await server.statusAgent("node-outage-agent"))?.tokens_today === 2000, 30_000);
    // Two more heartbeats (every 5 s on this plan) must not count the cost again.
    const acknowledged = client.stats.acknowledged;
    await waitFor("two more heartbeats", () => client.stats.acknowledged >= acknowledged + 2, 20_000);
    assert.equal(await client.shutdown(), true);

    const agent = await server.statusAgent("node-outage-agent");
    assert.equal(agent?.tokens_today, 2000);
    assert.equal(agent?.cost_usd_today, 0.5);
  });

  test("SIGTERM child sends its final heartbeat", async () => {
    const child = spawn(process.execPath, [join(__dirname, "fixtures", "agent.js")], {
      env: { ...process.env, MODE: "wait", AGENT: "node-sigterm-agent", CLEVAGENT_API_KEY: server.apiKey, CLEVAGENT_ENDPOINT: server.url },
      stdio: "ignore",
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    await waitForAsync("first heartbeat", async () => (await server.statusAgent("node-sigterm-agent")) !== undefined);
    child.kill("SIGTERM");

    assert.equal(await exited, "SIGTERM");
    assert.equal(heartbeatStatuses("node-sigterm-agent").at(-1), "shutdown");
    const agent = await server.statusAgent("node-sigterm-agent");
    assert.ok((agent?.tokens_today ?? 0) >= 12);
  });

  test("documented example runs as written", async () => {
    const example = join(__dirname, "..", "examples", "agent.mjs");
    const { stdout } = await promisify(execFile)(process.execPath, [example], {
      env: { ...process.env, ITERATIONS: "3", CLEVAGENT_API_KEY: server.apiKey, CLEVAGENT_ENDPOINT: server.url },
      timeout: 30_000,
    });

    assert.match(stdout, /iteration 3: \d+ tokens/);
    assert.match(stdout, /final heartbeat acknowledged/);
    const agent = await server.statusAgent("my-node-agent");
    assert.ok(agent, "my-node-agent is missing from GET /api/v1/status");
    assert.equal(agent.cost_usd_today, 0.009);
    assert.ok(agent.tokens_today > 0);
    assert.equal(heartbeatStatuses("my-node-agent").at(-1), "shutdown");
  });
});
