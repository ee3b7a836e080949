/**
 * ClevAgent SDK for Node.js: heartbeats, cost and loop signals from an agent process to
 * a self-hosted ClevAgent server. No runtime dependency.
 *
 * After init(), no SDK call throws into the application, except for invalid arguments:
 * a call that receives one throws TypeError or RangeError at once.
 */
import { isMainThread } from "node:worker_threads";
import { Client, DEFAULT_SHUTDOWN_TIMEOUT_MS } from "./client.js";
import { ProcessHooks } from "./hooks.js";
import { describe, resolveInitOptions, validateAmount, validateCount, validatePingOptions } from "./options.js";
import type { InitOptions, LogCostResult, PingOptions } from "./types.js";

export type { HeartbeatStatus, InitOptions, LogCostResult, PingOptions, ServerWarning, WarningAction } from "./types.js";
export { SDK_VERSION as version } from "./version.js";

interface SdkState {
  client: Client | null;
  hooks: ProcessHooks | null;
}

// The package ships as ES module and CommonJS. An application may load both copies (its
// own import and a library's require), so they share one state through the global symbol
// registry and never run two clients in one process.
const STATE_KEY = Symbol.for("clevagent.node-sdk.state");

function sdkState(): SdkState {
  const registry = globalThis as unknown as Record<symbol, SdkState | undefined>;
  let state = registry[STATE_KEY];
  if (state === undefined) {
    state = { client: null, hooks: null };
    registry[STATE_KEY] = state;
  }
  return state;
}

function activeClient(): Client | null {
  const client = sdkState().client;
  return client !== null && client.accepting ? client : null;
}

/**
 * Starts monitoring this process as `agent`: sends the first heartbeat at once, then one
 * every `interval` seconds from a timer that never keeps the process alive, and installs
 * the SIGTERM, SIGINT and exit hooks that send the final heartbeat. Calling it again
 * shuts the previous client down (in the background) and starts a new one.
 *
 * Throws TypeError or RangeError for invalid options.
 */
export function init(options: InitOptions): void {
  const config = resolveInitOptions(options, process.env);
  const state = sdkState();
  const previous = state.client;
  if (previous !== null) {
    state.hooks?.uninstall();
    void previous.shutdown();
  }

  const client = new Client(config);
  const hooks = new ProcessHooks(() => shutdownClient(client, DEFAULT_SHUTDOWN_TIMEOUT_MS));
  state.client = client;
  state.hooks = hooks;
  client.start();
  // Worker threads receive no signals and must not end the process.
  if (isMainThread) {
    hooks.install();
  }
}

/**
 * Reports progress from the agent's loop; sent with the next heartbeat. tokensUsed,
 * costUsd and toolCalls add to what this interval used. status, iterationCount and
 * memoryMb are current values that later heartbeats repeat; message is sent once.
 * Without iterationCount, the number of ping() calls is sent in its place, so a loop that
 * pings shows progress. Does nothing before init().
 */
export function ping(options: PingOptions = {}): void {
  const values = validatePingOptions(options);
  guarded(() => activeClient()?.ping(values));
}

/**
 * Records tokens and dollars of one LLM call for the next heartbeat. Never throws, also
 * not for invalid values: it returns `ok: false` with an error instead.
 */
export function logCost(tokens = 0, costUsd = 0): LogCostResult {
  const result: LogCostResult = { ok: false, tokens, costUsd };
  try {
    const validTokens = validateCount("logCost", "tokens", tokens) ?? 0;
    const validCost = validateAmount("logCost", "costUsd", costUsd) ?? 0;
    const client = activeClient();
    if (client === null) {
      result.error = "clevagent is not running: clevagent.init() has not been called, or the SDK was shut down or its API key rejected";
      return result;
    }
    client.recordCost(validTokens, validCost);
    result.ok = true;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  }
  return result;
}

/** Records the SHA-256 fingerprint of a prompt for loop detection; the text itself is never sent. */
export function logPrompt(prompt: string): void {
  requireString("logPrompt", "prompt", prompt);
  guarded(() => activeClient()?.recordPrompt(prompt));
}

/**
 * Counts one tool call and records its fingerprint (a hash of the name and arguments).
 * `args` may be a string or any JSON value.
 */
export function logToolCall(name: string, args?: unknown): void {
  requireString("logToolCall", "name", name);
  if (name === "") {
    throw new TypeError("clevagent.logToolCall(): name must be a non-empty string");
  }
  guarded(() => activeClient()?.recordToolCall(name, args));
}

/** Sets the agent's current iteration number, or advances it by one when called without a number. */
export function logIteration(iteration?: number): void {
  const value = validateCount("logIteration", "iteration", iteration);
  guarded(() => activeClient()?.recordIteration(value));
}

export interface ShutdownOptions {
  /** How long to wait for the final heartbeat, in milliseconds (default 2000). */
  timeoutMs?: number;
}

/**
 * Stops the heartbeat timer and sends what is left with status "shutdown". Resolves true
 * when the server acknowledged that final heartbeat within `timeoutMs`, false otherwise
 * (and true when there is nothing to shut down); never rejects. SIGTERM, SIGINT and the
 * end of the event loop call it automatically.
 */
export function shutdown(options: ShutdownOptions = {}): Promise<boolean> {
  const timeoutMs = validateAmount("shutdown", "timeoutMs", options.timeoutMs) ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const client = sdkState().client;
  if (client === null) {
    return Promise.resolve(true);
  }
  return shutdownClient(client, timeoutMs);
}

function shutdownClient(client: Client, timeoutMs: number): Promise<boolean> {
  return client.shutdown(timeoutMs).then((acknowledged) => {
    const state = sdkState();
    if (state.client === client) {
      state.hooks?.uninstall();
    }
    return acknowledged;
  });
}

/**
 * Runs `fn` as a declared long call, such as a slow model or tool: until `fn` settles or
 * `timeoutSeconds` pass, the server expects no progress and does not report the agent as
 * stuck or dead. The declaration is sent at once and cleared (busy_seconds 0) by the next
 * heartbeat after `fn` settles. Resolves or rejects with what `fn` returns or throws.
 */
export function busy<T>(reason: string, timeoutSeconds: number, fn: () => T | PromiseLike<T>): Promise<Awaited<T>> {
  requireString("busy", "reason", reason);
  const seconds = validateAmount("busy", "timeoutSeconds", timeoutSeconds);
  if (seconds === undefined || seconds === 0) {
    throw new RangeError(`clevagent.busy(): timeoutSeconds must be a positive number, got ${describe(timeoutSeconds)}`);
  }
  if (typeof fn !== "function") {
    throw new TypeError(`clevagent.busy(): fn must be a function, got ${describe(fn)}`);
  }
  return runBusy(reason, seconds, fn);
}

async function runBusy<T>(reason: string, seconds: number, fn: () => T | PromiseLike<T>): Promise<Awaited<T>> {
  const client = activeClient();
  let busyId: number | undefined;
  guarded(() => {
    busyId = client?.beginBusy(reason, seconds);
  });
  try {
    return await fn();
  } finally {
    if (busyId !== undefined) {
      const id = busyId;
      guarded(() => client?.endBusy(id));
    }
  }
}

function requireString(fn: string, name: string, value: unknown): void {
  if (typeof value !== "string") {
    throw new TypeError(`clevagent.${fn}(): ${name} must be a string, got ${describe(value)}`);
  }
}

/** Runs SDK work after argument validation; whatever it throws stays inside the SDK. */
function guarded(step: () => void): void {
  try {
    step();
  } catch {
    // The client counts its own errors; this only keeps an unexpected one from the agent.
  }
}

const clevagent = { init, ping, logCost, logPrompt, logToolCall, logIteration, shutdown, busy };
export default clevagent;
