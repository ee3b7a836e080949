import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { PendingDelta, type HeartbeatContext, type HeartbeatPayload } from "./delta.js";
import { promptFingerprint, toolCallFingerprint } from "./fingerprint.js";
import type { ClientConfig, PingValues } from "./options.js";
import { backoffDelayMs, parseRetryAfter } from "./retry.js";
import { postJson, type PostOptions, type PostOutcome } from "./transport.js";
import { processEnvironment, runWarningAction, WarningEpisodes, type ActionEnvironment } from "./warnings.js";

/** How long one background heartbeat request may take before it counts as failed. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The shortest time between two requests, so an agent that pings in a tight loop sends at most one heartbeat a second. */
export const MIN_SEND_GAP_MS = 1000;

/** How long shutdown() waits for the final heartbeat by default. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

// setTimeout fires at once for delays above 2^31 - 1 ms (about 24.8 days).
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Statuses whose heartbeat is dropped instead of retried: the server will reject the same body again. */
const REJECTED_PAYLOAD_STATUSES = new Set([400, 413, 422]);

type ClientState = "running" | "shutting_down" | "closed" | "rejected";

/** Clocks, randomness and process effects of a Client, replaceable in tests. */
export interface ClientDependencies {
  /** Monotonic milliseconds, for scheduling. */
  now(): number;
  /** Epoch milliseconds, for timestamps and HTTP-dates. */
  wallClock(): number;
  random(): number;
  memoryMb(): number;
  environment: ActionEnvironment;
  post(url: string, apiKey: string, body: unknown, options: PostOptions): Promise<PostOutcome>;
}

export const defaultDependencies: ClientDependencies = {
  now: () => performance.now(),
  wallClock: () => Date.now(),
  random: Math.random,
  memoryMb: () => Math.round((process.memoryUsage.rss() / (1024 * 1024)) * 10) / 10,
  environment: processEnvironment,
  post: postJson,
};

/** Counters of what the client did, for tests and debugging. */
export interface ClientStats {
  sent: number;
  acknowledged: number;
  duplicates: number;
  failedAttempts: number;
  droppedHeartbeats: number;
  internalErrors: number;
}

interface BusyCall {
  reason: string;
  deadlineMs: number;
}

/**
 * One SDK instance: records what the agent reports and delivers it as heartbeats from a
 * timer that never keeps the process alive by itself.
 *
 * Delivery is in order, one request at a time. A heartbeat gets its sequence number
 * when it is built and keeps it through every retry, and its counters leave memory only
 * once the server acknowledged it. A retry of a heartbeat that the server stored before
 * the response was lost is answered with "duplicate": true and counted once.
 */
export class Client {
  readonly config: ClientConfig;
  readonly instanceId = randomUUID().replaceAll("-", "");
  readonly stats: ClientStats = { sent: 0, acknowledged: 0, duplicates: 0, failedAttempts: 0, droppedHeartbeats: 0, internalErrors: 0 };

  private readonly deps: ClientDependencies;
  private readonly heartbeatUrl: string;
  private readonly pending = new PendingDelta();
  private readonly episodes = new WarningEpisodes();
  private readonly busyCalls = new Map<number, BusyCall>();

  private state: ClientState = "running";
  private outstanding: HeartbeatPayload | null = null;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextSeq = 1;
  private nextBusyId = 1;
  private busyClearDue = false;
  private failures = 0;
  /** No request before this time: a Retry-After or backoff wait after a failure. */
  private retryAtMs = 0;
  /** No background request before this time: MIN_SEND_GAP_MS after the previous one. */
  private gapUntilMs = 0;
  private dueAtMs = 0;
  private urgent = true;
  private serverMinIntervalMs = 0;
  private shutdownPromise: Promise<void> | null = null;

  constructor(config: ClientConfig, deps: ClientDependencies = defaultDependencies) {
    this.config = config;
    this.deps = deps;
    this.heartbeatUrl = `${config.endpoint}/api/v1/heartbeat`;
  }

  /** Schedules the first heartbeat right away; later ones follow the interval. */
  start(): void {
    this.schedule();
  }

  /** Whether the client still records and sends (false after shutdown or a rejected key). */
  get accepting(): boolean {
    return this.state === "running";
  }

  /** The sequence number of the next heartbeat to be built. */
  get sequence(): number {
    return this.nextSeq;
  }

  ping(values: PingValues): void {
    if (!this.accepting) {
      return;
    }
    this.pending.addTokens(values.tokensUsed);
    this.pending.addCost(values.costUsd);
    this.pending.addToolCalls(values.toolCalls);
    if (values.status !== undefined) this.pending.status = values.status;
    if (values.message !== undefined) this.pending.message = values.message;
    if (values.iterationCount !== undefined) this.pending.iterationCount = values.iterationCount;
    if (values.memoryMb !== undefined) this.pending.memoryMb = values.memoryMb;
    this.requestSend();
  }

  recordCost(tokens: number, costUsd: number): void {
    this.pending.addTokens(tokens);
    this.pending.addCost(costUsd);
  }

  recordPrompt(prompt: string): void {
    this.pending.addFingerprint(promptFingerprint(prompt));
  }

  recordToolCall(name: string, args: unknown): void {
    this.pending.addToolCalls(1);
    this.pending.addFingerprint(toolCallFingerprint(name, args));
  }

  /** Sets the iteration number, or adds one to it when `count` is undefined. */
  recordIteration(count: number | undefined): void {
    this.pending.iterationCount = count ?? (this.pending.iterationCount ?? 0) + 1;
  }

  /** Declares a long call until `seconds` from now and sends that at once. Returns the id for endBusy(). */
  beginBusy(reason: string, seconds: number): number {
    const id = this.nextBusyId++;
    this.busyCalls.set(id, { reason, deadlineMs: this.deps.now() + seconds * 1000 });
    this.requestSend();
    return id;
  }

  /** Ends a busy call; when it was the last one, the next heartbeat clears the declaration (busy_seconds 0). */
  endBusy(id: number): void {
    if (this.busyCalls.delete(id) && this.busyCalls.size === 0) {
      this.busyClearDue = true;
      this.requestSend();
    }
  }

  /**
   * Stops the timer and sends what is left with status "shutdown", waiting at most
   * `timeoutMs`. Resolves (never rejects) when the server acknowledged everything or the
   * time is up. Later calls return the same promise.
   */
  shutdown(timeoutMs: number = DEFAULT_SHUTDOWN_TIMEOUT_MS): Promise<void> {
    if (this.shutdownPromise === null) {
      this.shutdownPromise = this.runShutdown(timeoutMs).catch((error: unknown) => this.reportInternalError("shutdown", error));
    }
    return this.shutdownPromise;
  }

  private requestSend(): void {
    this.urgent = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.state !== "running" || this.inFlight !== null) {
      return;
    }
    const now = this.deps.now();
    const wantsNow = this.urgent || this.outstanding !== null;
    const startAt = Math.max(this.retryAtMs, this.gapUntilMs, wantsNow ? now : this.dueAtMs);
    this.setTimer(startAt - now);
  }

  private setTimer(delayMs: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => this.guard("timer", () => this.sendNext()), Math.min(Math.max(delayMs, 0), MAX_TIMER_DELAY_MS));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private sendNext(): void {
    this.timer = null;
    if (this.state !== "running" || this.inFlight !== null) {
      return;
    }
    const payload = this.currentPayload();
    const options = { timeoutMs: REQUEST_TIMEOUT_MS, keepProcessAlive: false };
    this.inFlight = this.deliver(payload, options).finally(() => {
      this.inFlight = null;
      this.guard("schedule", () => this.schedule());
    });
  }

  /** Returns the heartbeat that was built but not acknowledged yet, or builds the next one. */
  private currentPayload(): HeartbeatPayload {
    if (this.outstanding === null) {
      this.outstanding = this.pending.takePayload(this.heartbeatContext());
      this.nextSeq += 1;
      this.urgent = false;
    }
    return this.outstanding;
  }

  private heartbeatContext(): HeartbeatContext {
    return {
      agent: this.config.agent,
      agentType: this.config.agentType,
      instanceId: this.instanceId,
      seq: this.nextSeq,
      nowMs: this.deps.wallClock(),
      memoryMb: this.deps.memoryMb(),
      busy: this.takeBusyDeclaration(),
    };
  }

  /** Returns the longest running busy declaration, a clearing one (0 s) once the last call ended, or null. */
  private takeBusyDeclaration(): { seconds: number; reason: string } | null {
    const now = this.deps.now();
    let longest: BusyCall | null = null;
    for (const call of this.busyCalls.values()) {
      if (call.deadlineMs > now && (longest === null || call.deadlineMs > longest.deadlineMs)) {
        longest = call;
      }
    }

    if (longest !== null) {
      return { seconds: Math.round(longest.deadlineMs - now) / 1000, reason: longest.reason };
    }
    if (this.busyClearDue) {
      this.busyClearDue = false;
      return { seconds: 0, reason: "" };
    }
    return null;
  }

  private async deliver(payload: HeartbeatPayload, options: PostOptions): Promise<void> {
    this.stats.sent += 1;
    const outcome = await this.deps.post(this.heartbeatUrl, this.config.apiKey, payload, options);
    this.guard("response", () => this.handleOutcome(payload, outcome));
  }

  private handleOutcome(payload: HeartbeatPayload, outcome: PostOutcome): void {
    const now = this.deps.now();
    if (outcome.kind === "error") {
      this.retryLater(now, undefined, outcome.error.message);
      return;
    }

    const { status } = outcome;
    if (status >= 200 && status < 300) {
      this.acknowledge(payload, outcome.body, now);
    } else if (status === 401 || status === 403) {
      this.rejectKey(status, outcome.body);
    } else if (REJECTED_PAYLOAD_STATUSES.has(status)) {
      this.dropPayload(payload, status, outcome.body, now);
    } else {
      // 429 and 503 carry Retry-After; 5xx, 404 (a wrong endpoint) and the rest back off.
      this.retryLater(now, outcome.retryAfter, `HTTP ${status} ${detailOf(outcome.body)}`);
    }
  }

  private acknowledge(payload: HeartbeatPayload, body: unknown, now: number): void {
    const fields = body !== null && typeof body === "object" ? (body as Record<string, unknown>) : {};
    const minInterval = fields["min_interval_seconds"];
    if (typeof minInterval === "number" && Number.isFinite(minInterval) && minInterval >= 0) {
      this.serverMinIntervalMs = minInterval * 1000;
    }

    this.finishPayload(payload, now);
    this.failures = 0;
    this.stats.acknowledged += 1;
    if (fields["duplicate"] === true) {
      this.stats.duplicates += 1;
    }

    const warning = this.episodes.observe(fields["warning"]);
    if (warning !== null && this.state === "running") {
      runWarningAction(warning, this.config.agent, this.config, this.actionEnvironment());
    }
  }

  private dropPayload(payload: HeartbeatPayload, status: number, body: unknown, now: number): void {
    this.finishPayload(payload, now);
    this.stats.droppedHeartbeats += 1;
    this.debug(`the server rejected heartbeat seq ${payload.seq} with HTTP ${status} ${detailOf(body)}; it is dropped`);
  }

  private finishPayload(payload: HeartbeatPayload, now: number): void {
    if (this.outstanding === payload) {
      this.outstanding = null;
    }
    this.retryAtMs = 0;
    this.gapUntilMs = now + MIN_SEND_GAP_MS;
    this.dueAtMs = now + Math.max(this.config.intervalMs, this.serverMinIntervalMs);
  }

  private retryLater(now: number, retryAfter: string | undefined, reason: string): void {
    this.failures += 1;
    this.stats.failedAttempts += 1;
    const delay = parseRetryAfter(retryAfter, this.deps.wallClock()) ?? backoffDelayMs(this.failures, this.deps.random);
    this.retryAtMs = now + Math.max(delay, MIN_SEND_GAP_MS);
    this.debug(`heartbeat failed (${reason}); retry ${this.failures} in ${Math.round(this.retryAtMs - now)} ms`);
  }

  /** Stops all sending after a 401 or 403, and says so once on stderr: retrying cannot succeed. */
  private rejectKey(status: number, body: unknown): void {
    this.state = "rejected";
    this.clearTimer();
    const hint = status === 401 ? " Check apiKey or CLEVAGENT_API_KEY." : "";
    this.deps.environment.writeStderr(
      `clevagent: the server rejected the heartbeats of agent ${JSON.stringify(this.config.agent)} with HTTP ${status} ` +
        `(${detailOf(body)}); no more heartbeats are sent from this process.${hint}\n`,
    );
  }

  private async runShutdown(timeoutMs: number): Promise<void> {
    this.clearTimer();
    if (this.state !== "running") {
      return;
    }
    this.state = "shutting_down";

    // The background request leaves the process free to exit; this timer holds it open
    // until the final heartbeat is delivered or the time is up.
    const deadline = this.deps.now() + timeoutMs;
    const keepAlive = setTimeout(() => {}, timeoutMs);
    try {
      await this.sendFinalHeartbeats(deadline);
    } finally {
      clearTimeout(keepAlive);
      if (this.state === "shutting_down") {
        this.state = "closed";
      }
    }
  }

  private async sendFinalHeartbeats(deadline: number): Promise<void> {
    if (this.inFlight !== null) {
      const settled = await settlesWithin(this.inFlight, deadline - this.deps.now());
      if (!settled) {
        return;
      }
    }

    // The minimum gap between requests does not apply here, but a Retry-After or backoff
    // wait does: the server asked for it, and ignoring it would only fail again.
    let finalBuilt = false;
    while (this.state === "shutting_down") {
      if (this.outstanding === null) {
        if (finalBuilt) {
          return;
        }
        this.pending.status = "shutdown";
        finalBuilt = true;
      }
      if (!(await this.waitForRetry(deadline))) {
        return;
      }

      const remaining = deadline - this.deps.now();
      await this.deliver(this.currentPayload(), { timeoutMs: remaining, keepProcessAlive: true });
    }
  }

  /** Waits until a retry is allowed; returns false when that is at or past the deadline. */
  private async waitForRetry(deadline: number): Promise<boolean> {
    if (this.retryAtMs >= deadline || this.deps.now() >= deadline) {
      return false;
    }
    const wait = this.retryAtMs - this.deps.now();
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
    return true;
  }

  private actionEnvironment(): ActionEnvironment {
    return { ...this.deps.environment, reportError: (context, error) => this.reportInternalError(context, error) };
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

  private debug(message: string): void {
    if (this.config.debug) {
      this.deps.environment.writeStderr(`clevagent: debug: ${message}\n`);
    }
  }
}

/** Resolves true when the promise settles within `ms`, false otherwise. */
function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.max(ms, 0));
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

/** Returns the `detail` of an error body as text for a message. */
function detailOf(body: unknown): string {
  if (body !== null && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  }
  return "no detail";
}
