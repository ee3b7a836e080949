import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { StandInServer, VALID_KEY } from "./support/standin.js";
import { waitFor } from "./support/wait.js";

const AGENT_SCRIPT = join(__dirname, "fixtures", "agent.js");

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

let server: StandInServer;
const children: ChildProcess[] = [];

beforeEach(async () => {
  server = new StandInServer();
  server.minIntervalSeconds = 0;
  await server.start();
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
    }
  }
  await server.stop();
});

/** Starts the fixture agent and returns its process and a promise of how it ended. */
function runAgent(env: Record<string, string>): { child: ChildProcess; exited: Promise<Exit> } {
  const child = spawn(process.execPath, [AGENT_SCRIPT], {
    env: { ...process.env, CLEVAGENT_API_KEY: VALID_KEY, CLEVAGENT_ENDPOINT: server.url, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<Exit>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, exited };
}

function statuses(agent: string): unknown[] {
  return server.heartbeatsOf(agent).map((item) => item.body["status"]);
}

describe("process lifecycle", () => {
  test("idle agent exits and says shutdown", async () => {
    const started = performance.now();
    const { exited } = runAgent({ MODE: "idle", AGENT: "idle-agent" });
    const result = await exited;

    assert.equal(result.code, 0, result.stderr);
    assert.ok(performance.now() - started < 5000, "the SDK kept the process alive");
    assert.equal(statuses("idle-agent").at(-1), "shutdown");
    assert.equal(server.totalsOf("idle-agent").tokens, 12);
  });

  test("SIGTERM sends shutdown then ends by the signal", async () => {
    const { child, exited } = runAgent({ MODE: "wait", AGENT: "term-agent" });
    await waitFor("first heartbeat", () => server.heartbeatsOf("term-agent").length >= 1);
    child.kill("SIGTERM");
    const result = await exited;

    assert.equal(result.signal, "SIGTERM", `exit code ${result.code}, stderr ${result.stderr}`);
    assert.equal(statuses("term-agent").at(-1), "shutdown");
    assert.ok(server.totalsOf("term-agent").tokens >= 12);
  });

  test("SIGINT sends shutdown then ends by the signal", async () => {
    const { child, exited } = runAgent({ MODE: "wait", AGENT: "int-agent" });
    await waitFor("first heartbeat", () => server.heartbeatsOf("int-agent").length >= 1);
    child.kill("SIGINT");
    const result = await exited;

    assert.equal(result.signal, "SIGINT");
    assert.equal(statuses("int-agent").at(-1), "shutdown");
  });

  test("application SIGTERM handler keeps control", async () => {
    const { child, exited } = runAgent({ MODE: "own-handler", AGENT: "handler-agent" });
    await waitFor("first heartbeat", () => server.heartbeatsOf("handler-agent").length >= 1);
    child.kill("SIGTERM");
    const result = await exited;

    assert.equal(result.signal, null);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /application handler ran/);
    assert.equal(statuses("handler-agent").at(-1), "shutdown");
  });

  test("final heartbeat waits for a slow server", async () => {
    server.script.push({ kind: "respond", status: 503, headers: { "retry-after": "1" }, body: { detail: "down" } });
    const { exited } = runAgent({ MODE: "idle", AGENT: "slow-agent" });
    const result = await exited;

    // The idle agent ends before its first background heartbeat, so both are final ones.
    assert.equal(result.code, 0);
    const attempts = server.heartbeatsOf("slow-agent").map((item) => [item.body["seq"], item.body["status"], item.answeredStatus]);
    assert.deepEqual(attempts, [
      [1, "shutdown", 503],
      [1, "shutdown", 200],
    ]);
    assert.equal(server.totalsOf("slow-agent").tokens, 12);
  });

  test("loop warning with default onLoop exits 1", async () => {
    server.warning = { type: "loop", signal: "tool_call_rate", value: 40, threshold: 10, message: "40 tool calls in the last minute" };
    const { exited } = runAgent({ MODE: "wait", AGENT: "loop-agent" });
    const result = await exited;

    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      'clevagent: loop detected for agent "loop-agent": 40 tool calls in the last minute; stopping the process (onLoop is "stop")\n',
    );
    assert.equal(statuses("loop-agent").at(-1), "shutdown");
  });
});
