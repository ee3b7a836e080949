import type { HeartbeatStatus } from "./types.js";

/** The most fingerprints one heartbeat may carry, the server's limit. */
export const MAX_FINGERPRINTS = 1000;

/** The JSON body of one heartbeat, with the server's snake_case field names. */
export interface HeartbeatPayload {
  agent: string;
  status: HeartbeatStatus;
  message?: string;
  tokens_used?: number;
  cost_usd?: number;
  tool_calls?: number;
  iteration_count?: number;
  memory_mb?: number;
  agent_type?: string;
  timestamp: string;
  instance_id: string;
  seq: number;
  fingerprints?: string[];
  busy_seconds?: number;
  busy_reason?: string;
  source: "sdk";
}

/** What identifies the sender and describes the process at the moment a heartbeat is built. */
export interface HeartbeatContext {
  agent: string;
  agentType: string | undefined;
  instanceId: string;
  seq: number;
  nowMs: number;
  memoryMb: number;
  busy: { seconds: number; reason: string } | null;
}

/**
 * The counters and signals recorded since the last heartbeat was built. Counters are
 * deltas: a heartbeat carries what happened since the one before it, so the server adds
 * them up. The iteration number is the agent's current value, kept across heartbeats.
 */
export class PendingDelta {
  tokensUsed: number | undefined;
  costUsd: number | undefined;
  toolCalls: number | undefined;
  status: HeartbeatStatus | undefined;
  message: string | undefined;
  memoryMb: number | undefined;
  fingerprints: string[] = [];
  droppedFingerprints = 0;
  iterationCount: number | undefined;

  addTokens(tokens: number | undefined): void {
    if (tokens !== undefined) {
      this.tokensUsed = (this.tokensUsed ?? 0) + tokens;
    }
  }

  addCost(costUsd: number | undefined): void {
    if (costUsd !== undefined) {
      this.costUsd = (this.costUsd ?? 0) + costUsd;
    }
  }

  addToolCalls(calls: number | undefined): void {
    if (calls !== undefined) {
      this.toolCalls = (this.toolCalls ?? 0) + calls;
    }
  }

  /** Appends a fingerprint; past MAX_FINGERPRINTS the oldest one is dropped and counted. */
  addFingerprint(fingerprint: string): void {
    this.fingerprints.push(fingerprint);
    if (this.fingerprints.length > MAX_FINGERPRINTS) {
      this.fingerprints.shift();
      this.droppedFingerprints += 1;
    }
  }

  /**
   * Builds the heartbeat for everything recorded so far and clears the deltas. Status and
   * message belong to one ping, so the next heartbeat goes back to "ok" without a message:
   * a repeated message would look like a loop of identical messages to the server.
   */
  takePayload(context: HeartbeatContext): HeartbeatPayload {
    const payload: HeartbeatPayload = {
      agent: context.agent,
      status: this.status ?? "ok",
      timestamp: new Date(context.nowMs).toISOString(),
      instance_id: context.instanceId,
      seq: context.seq,
      source: "sdk",
    };
    setIfDefined(payload, "message", this.message);
    setIfDefined(payload, "tokens_used", this.tokensUsed);
    setIfDefined(payload, "cost_usd", this.costUsd);
    setIfDefined(payload, "tool_calls", this.toolCalls);
    setIfDefined(payload, "iteration_count", this.iterationCount);
    setIfDefined(payload, "memory_mb", this.memoryMb ?? context.memoryMb);
    setIfDefined(payload, "agent_type", context.agentType);
    if (this.fingerprints.length > 0) {
      payload.fingerprints = this.fingerprints;
    }
    if (context.busy !== null) {
      payload.busy_seconds = context.busy.seconds;
      payload.busy_reason = context.busy.reason;
    }

    this.clearDeltas();
    return payload;
  }

  private clearDeltas(): void {
    this.tokensUsed = undefined;
    this.costUsd = undefined;
    this.toolCalls = undefined;
    this.status = undefined;
    this.message = undefined;
    this.memoryMb = undefined;
    this.fingerprints = [];
  }
}

function setIfDefined<K extends keyof HeartbeatPayload>(payload: HeartbeatPayload, key: K, value: HeartbeatPayload[K] | undefined): void {
  if (value !== undefined) {
    payload[key] = value;
  }
}
