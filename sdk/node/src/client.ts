import { performance } from "node:perf_hooks";
import { promptFingerprint, toolCallFingerprint } from "./fingerprint.js";
import { truncateCodePoints, type ClientConfig, type PingValues } from "./options.js";
import { backoffDelayMs } from "./retry.js";
import { AgentState, type Batch } from "./state.js";
import { classifyOutcome, postJson, type Classified, type PostOptions, type PostOutcome } from "./transport.js";
import { WarningActions } from "./warnings.js";

/** How long one background heartbeat request may take before it counts as failed. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** How long shutdown() waits for the final heartbeat by default. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000;

/** The minimum wait before a retry, also for Retry-After: 0, so a broken server cannot cause a busy loop. */
export const MIN_RETRY_DELAY_MS = 1000;

/** Each interval is stretched or shortened by up to this fraction, so agents started together drift apart. */
const INTERVAL_JITTER = 0.1;

// setTimeout fires at once for delays above 2^31 - 1 ms (about 24.8 days).
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Attempts of the final heartbeats at shutdown: the unacknowledged batch, the final one, and retries. */
const MAX_FINAL_ATTEMPTS = 5;

const STOP_MESSAGE = "stopped by the clevagent SDK after a server warning";

/** Clocks, randomness and process effects of a Client, replaceable in tests. */
export interface ClientDependencies {
  /** Monotonic milliseconds, for scheduling. */
  now(): number;
  /** Epoch milliseconds, for timestamps and HTTP-dates. */
  wallClock(): number;
  random(): number;
  memoryMb(): number;
  writeStderr(line: string): void;
  exit(code: number): void;
  post(url: string, apiKey: string, body: unknown, options: PostOptions): Promise<PostOutcome>;
}

export const defaultDependencies: ClientDependencies = {
  now: () => performance.now(),
  wallClock: () => Date.now(),
  random: Math.random,
  memoryMb: () => Math.round((process.memoryUsage.rss() / 1048576) * 10) / 10,
  writeStderr: (line) => {
    process.stderr.write(line);
  },
  exit: (code) => {
    process.exit(code);
  },
  post: postJson,
};

/** Counters of what the client did, for tests and debugging. */
export interface ClientStats {
  sent: number;
  acknowledged: number;
  duplicates: number;
  failedAttempts: number;
  internalErrors: number;
}

/**
 * One initialised SDK: records what the agent reports and sends it as heartbeats from a
 * timer that never keeps the process alive by itself.
 *
 * Requests go out one at a time, in sequence order. The public functions only change
 * AgentState and return at once; a slow or absent server never slows the agent down.
 */
export class Client {
  readonly config: ClientConfig;
  readonly state = new AgentState();
  readonly stats: ClientStats = { sent: 0, acknowledged: 0, duplicates: 0, failedAttempts: 0, internalErrors: 0 };

  private readonly deps: ClientDependencies;
  private readonly heartbeatUrl: string;
  private readonly actions: WarningActions;
  private readonly reported = new Set<string>();

  private intervalMs: number;
  private failures = 0;
  private nextSendMs = 0;
  /** Set by wake() during a request, so the wake is not lost when that request reschedules. */
  private woken = false;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private disabled = false;
  private stopping = false;
  private finalMessage: string | undefined;
  private shutdownPromise: Promise<boolean> | null = null;

  constructor(config: ClientConfig, deps: ClientDependencies = defaultDependencies) {
    this.config = config;
    this.deps = deps;
    this.intervalMs = config.intervalMs;
    this.heartbeatUrl = `${config.endpoint}/api/v1/heartbeat`;
    this.actions = new WarningActions(config.agent, config, {
      writeStderr: (line) => deps.writeStderr(line),
      stopProcess: () => this.stopProcess(),
      reportError: (context, error) => this.reportInternalError(context, error),
    });
  }

  /** Sends the first heartbeat at once; later ones follow the interval. */
  start(): void {
    this.nextSendMs = this.deps.now();
    this.schedule();
  }

  /** Whether the client still records and sends (false after shutdown() or a rejected key). */
  get accepting(): boolean {
    return !this.stopping && !this.disabled;
  }

  ping(values: PingValues): void {
    const state = this.state;
    const counters = state.current;
    state.status = values.status ?? "ok";
    state.pingCount += 1;
    if (values.message !== undefined) counters.message = values.message;
    if (values.tokensUsed !== undefined) counters.tokens += values.tokensUsed;
    if (values.costUsd !== undefined) this.addCost(values.costUsd);
    if (values.toolCalls !== undefined) counters.toolCalls += values.toolCalls;
    if (values.iterationCount !== undefined) state.iteration = values.iterationCount;
    if (values.memoryMb !== undefined) state.memoryMb = values.memoryMb;
  }

  recordCost(tokens: number, costUsd: number): void {
    this.state.current.tokens += tokens;
    this.addCost(costUsd);
  }

  private addCost(costUsd: number): void {
    this.state.current.costUsd += costUsd;
    this.state.current.costLogged = true;
  }

  recordPrompt(prompt: string): void {
    this.state.addFingerprint(promptFingerprint(prompt), false);
  }

  recordToolCall(name: string, args: unknown): void {
    this.state.addFingerprint(toolCallFingerprint(name, args), true);
  }

  /** Sets the iteration number, or advances it by one when `iteration` is undefined. */
  recordIteration(iteration: number | undefined): void {
    const state = this.state;
    state.iteration = iteration ?? (state.iteration ?? state.pingCount) + 1;
  }

  /** Declares a long call and sends the declaration at once. Returns the id for endBusy(). */
  beginBusy(reason: string, seconds: number): number {
    const id = this.state.beginBusy(reason, seconds, this.deps.now());
    // The server should learn about the long call before it would start to wonder.
    this.wake();
    return id;
  }

  endBusy(id: number): void {
    this.state.endBusy(id);
  }

  /**
   * Stops the timer, then sends the unacknowledged batch and a final heartbeat with
   * status "shutdown", within `timeoutMs` in all. Resolves true when the server
   * acknowledged the final heartbeat; never rejects. Later calls return the same promise.
   */
  shutdown(timeoutMs: number = DEFAULT_SHUTDOWN_TIMEOUT_MS): Promise<boolean> {
    if (this.shutdownPromise === null) {
      this.shutdownPromise = this.runShutdown(timeoutMs).catch((error: unknown) => {
        this.reportInternalError("shutdown", error);
        return false;
      });
    }
    return this.shutdownPromise;
  }

  /** Sends the next heartbeat now instead of at the end of the interval, unless the client is waiting to retry. */
  private wake(): void {
    if (this.failures === 0) {
      this.woken = true;
      this.nextSendMs = this.deps.now();
      this.schedule();
    }
  }

  private schedule(): void {
    this.clearTimer();
    if (this.stopping || this.disabled || this.sending !== null) {
      return;
    }
    const delay = Math.min(Math.max(this.nextSendMs - this.deps.now(), 0), MAX_TIMER_DELAY_MS);
    this.timer = setTimeout(() => this.guard("timer", () => this.sendDue()), delay);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private sendDue(): void {
    this.timer = null;
    if (this.stopping || this.disabled || this.sending !== null) {
      return;
    }
    const retrying = this.failures > 0;
    this.woken = false;
    const batch = this.state.takeBatch();
    const options = { timeoutMs: REQUEST_TIMEOUT_MS, keepProcessAlive: false };

    this.sending = this.post(batch, undefined, options)
      .then((outcome) => this.guard("response", () => this.handle(batch, outcome, retrying)))
      .finally(() => {
        this.sending = null;
        this.guard("schedule", () => this.schedule());
      });
  }

  private handle(batch: Batch, outcome: Classified, retrying: boolean): void {
    const now = this.deps.now();
    switch (outcome.kind) {
      case "ok":
        this.handleOk(batch, outcome.body);
        this.nextSendMs = now + this.jittered(this.intervalMs);
        // After an outage, send what piled up at once instead of one interval later.
        if (this.woken || (retrying && this.state.hasPendingCounters())) {
          this.nextSendMs = now;
        }
        return;
      case "retry": {
        this.failures += 1;
        this.stats.failedAttempts += 1;
        const delay = Math.max(outcome.retryAfterMs ?? backoffDelayMs(this.failures, this.intervalMs, this.deps.random), MIN_RETRY_DELAY_MS);
        this.nextSendMs = now + delay;
        this.debug(`heartbeat seq ${batch.seq} failed (${outcome.error}), retrying in ${(delay / 1000).toFixed(1)} s`);
        return;
      }
      case "unauthorized":
        this.disabled = true;
        this.reportOnce("unauthorized", `the server rejected the API key of agent ${JSON.stringify(this.config.agent)} (${outcome.error}); heartbeats stop until init() is called with a valid key`);
        return;
      case "rejected":
        this.state.dropBatch(batch.seq, `http_${outcome.status}`);
        this.failures = 0;
        this.nextSendMs = now + this.jittered(this.intervalMs);
        this.reportOnce(`http_${outcome.status}`, `the server rejected a heartbeat of agent ${JSON.stringify(this.config.agent)}: ${outcome.error}`);
        return;
    }
  }

  private handleOk(batch: Batch, body: Record<string, unknown>): void {
    this.state.acknowledge(batch.seq);
    this.failures = 0;
    this.stats.acknowledged += 1;
    if (body["duplicate"] === true) {
      this.stats.duplicates += 1;
    }

    const minimum = body["min_interval_seconds"];
    if (typeof minimum === "number" && Number.isFinite(minimum) && minimum >= 0) {
      this.intervalMs = Math.max(this.config.intervalMs, minimum * 1000);
    }
    if (!this.stopping) {
      this.actions.observe(body["warning"]);
    }
  }

  /** Sends one batch with the current gauges; `status` overrides the agent's status (final heartbeat). */
  private async post(batch: Batch, status: "shutdown" | undefined, options: PostOptions): Promise<Classified> {
    this.stats.sent += 1;
    const outcome = await this.deps.post(this.heartbeatUrl, this.config.apiKey, this.payload(batch, status), options);
    return classifyOutcome(outcome, this.deps.wallClock());
  }

  private payload(batch: Batch, status: "shutdown" | undefined): Record<string, unknown> {
    const payload: Record<string, unknown> = {
      agent: this.config.agent,
      source: "sdk",
      instance_id: this.state.instanceId,
      seq: batch.seq,
      timestamp: new Date(this.deps.wallClock()).toISOString(),
      ...this.state.gauges(this.deps.now()),
      ...batch.counters.toFields(),
    };
    if (this.config.agentType !== undefined) {
      payload["agent_type"] = this.config.agentType;
    }
    if (payload["memory_mb"] === undefined) {
      payload["memory_mb"] = this.deps.memoryMb();
    }
    if (status !== undefined) {
      payload["status"] = status;
      if (this.finalMessage !== undefined) {
        payload["message"] = this.finalMessage;
      }
    }
    return payload;
  }

  private async runShutdown(timeoutMs: number): Promise<boolean> {
    const deadline = this.deps.now() + timeoutMs;
    this.stopping = true;
    this.clearTimer();
    if (this.disabled) {
      return false;
    }

    // Background requests leave the process free to exit. This ref'd timer keeps it
    // running until the final heartbeat is delivered or the time is up.
    const keepAlive = setTimeout(() => {}, Math.max(timeoutMs, 0));
    try {
      if (this.sending !== null && !(await settlesWithin(this.sending, deadline - this.deps.now()))) {
        return false;
      }
      return await this.sendFinal(deadline);
    } finally {
      clearTimeout(keepAlive);
    }
  }

  /**
   * Sends the unacknowledged batch, then a heartbeat with status "shutdown", by the
   * deadline. A failed attempt is retried when its Retry-After or backoff wait ends
   * before the deadline, so a server that is briefly unavailable still gets the counters.
   */
  private async sendFinal(deadline: number): Promise<boolean> {
    let failures = 0;
    let finalSeq: number | null = null;
    for (let attempt = 0; attempt < MAX_FINAL_ATTEMPTS && !this.disabled; attempt++) {
      if (this.state.inFlight === null) {
        finalSeq = this.state.nextSeq;
      }
      const batch = this.state.takeBatch();
      const final = batch.seq === finalSeq;
      const timeoutMs = deadline - this.deps.now();
      if (timeoutMs <= 0) {
        return false;
      }

      const outcome = await this.post(batch, final ? "shutdown" : undefined, { timeoutMs, keepProcessAlive: true });
      if (outcome.kind === "ok") {
        this.state.acknowledge(batch.seq);
        this.stats.acknowledged += 1;
        if (final) {
          return true;
        }
        continue;
      }

      this.debug(`final heartbeat seq ${batch.seq} failed: ${outcome.error}`);
      if (outcome.kind !== "retry") {
        return false;
      }
      failures += 1;
      const wait = Math.max(outcome.retryAfterMs ?? backoffDelayMs(failures, this.intervalMs, this.deps.random), 0);
      if (this.deps.now() + wait >= deadline) {
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    return false;
  }

  /** Ends the process with status 1 after a best-effort final heartbeat (the "stop" action). */
  private stopProcess(): void {
    this.finalMessage = STOP_MESSAGE;
    void this.shutdown().finally(() => this.deps.exit(1));
  }

  private jittered(ms: number): number {
    return ms * (1 - INTERVAL_JITTER + 2 * INTERVAL_JITTER * this.deps.random());
  }

  /** Runs one step of the SDK's own work; an exception is counted and never reaches the agent. */
  private guard(context: string, step: () => void): void {
    try {
      step();
    } catch (error) {
      this.reportInternalError(context, error);
    }
  }

  private reportInternalError(context: string, error: unknown): void {
    this.stats.internalErrors += 1;
    this.debug(`error in ${context}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }

  /** Writes a problem the agent's author must fix to stderr, once per kind and client. */
  private reportOnce(key: string, message: string): void {
    if (!this.reported.has(key)) {
      this.reported.add(key);
      this.deps.writeStderr(`clevagent: ${truncateCodePoints(message, 1000)}\n`);
    }
  }

  private debug(message: string): void {
    if (this.config.debug) {
      this.deps.writeStderr(`clevagent: debug: ${message}\n`);
    }
  }
}

/** Resolves true when the promise settles within `ms`, false otherwise. */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.max(ms, 0));
    timer.unref();
    const settle = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(settle, settle);
  });
}
