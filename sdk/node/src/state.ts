import { randomUUID } from "node:crypto";
import { truncateCodePoints } from "./options.js";
import type { HeartbeatStatus } from "./types.js";

/** The most fingerprints one heartbeat may carry, the server's limit. */
export const MAX_FINGERPRINTS = 1000;
/** Server limits on busy fields; a longer value would get the whole heartbeat rejected. */
export const MAX_BUSY_SECONDS = 7 * 86400;
export const MAX_BUSY_REASON = 200;

/**
 * Deltas of one heartbeat: everything that must be counted exactly once. The fields
 * that are always present (tokens_used, tool_calls) go out as 0 when nothing happened.
 */
export class Counters {
  tokens = 0;
  costUsd = 0;
  costLogged = false;
  toolCalls = 0;
  message: string | undefined;
  fingerprints: string[] = [];

  /** Returns the heartbeat fields these counters contribute. */
  toFields(): Record<string, unknown> {
    const fields: Record<string, unknown> = { tokens_used: this.tokens, tool_calls: this.toolCalls };
    if (this.costLogged) {
      // Sums of binary floats drift in the last digits (0.1 + 0.2); the server stores dollars.
      fields["cost_usd"] = Math.round(this.costUsd * 1e10) / 1e10;
    }
    if (this.fingerprints.length > 0) {
      fields["fingerprints"] = [...this.fingerprints];
    }
    if (this.message !== undefined) {
      fields["message"] = this.message;
    }
    return fields;
  }

  isEmpty(): boolean {
    return this.tokens === 0 && !this.costLogged && this.toolCalls === 0 && this.message === undefined && this.fingerprints.length === 0;
  }
}

/** Counters under the sequence number they are sent with until the server acknowledged them. */
export interface Batch {
  seq: number;
  counters: Counters;
}

interface BusyCall {
  reason: string;
  deadlineMs: number;
}

/**
 * What the agent reported since the last acknowledged heartbeat.
 *
 * A heartbeat takes the current counters into a batch with its own sequence number and
 * keeps that batch until the server acknowledged it. A retry sends the same batch under
 * the same number, and the server, which ignores the counters of a number it already
 * stored, counts each batch exactly once. What the agent reports meanwhile goes into
 * fresh counters for the next number.
 */
export class AgentState {
  readonly instanceId = randomUUID().replaceAll("-", "");
  current = new Counters();
  inFlight: Batch | null = null;
  nextSeq = 1;

  // Gauges: the latest values, which every heartbeat repeats until the agent changes them.
  status: HeartbeatStatus = "ok";
  iteration: number | undefined;
  pingCount = 0;
  memoryMb: number | undefined;

  readonly drops = new Map<string, number>();
  private readonly busyCalls = new Map<number, BusyCall>();
  private nextBusyId = 1;

  addFingerprint(fingerprint: string, toolCall: boolean): void {
    const fingerprints = this.current.fingerprints;
    if (fingerprints.length >= MAX_FINGERPRINTS) {
      fingerprints.shift();
      this.countDrop("fingerprint_overflow");
    }
    fingerprints.push(fingerprint);
    if (toolCall) {
      this.current.toolCalls += 1;
    }
  }

  /** Returns the unacknowledged batch, or starts one from the current counters. */
  takeBatch(): Batch {
    if (this.inFlight === null) {
      this.inFlight = { seq: this.nextSeq, counters: this.current };
      this.nextSeq += 1;
      this.current = new Counters();
    }
    return this.inFlight;
  }

  acknowledge(seq: number): void {
    if (this.inFlight !== null && this.inFlight.seq === seq) {
      this.inFlight = null;
    }
  }

  /** Forgets a batch the server rejected for good, counting the loss by reason. */
  dropBatch(seq: number, reason: string): void {
    if (this.inFlight !== null && this.inFlight.seq === seq) {
      this.inFlight = null;
      this.countDrop(reason);
    }
  }

  hasPendingCounters(): boolean {
    return this.inFlight !== null || !this.current.isEmpty();
  }

  beginBusy(reason: string, seconds: number, nowMs: number): number {
    const id = this.nextBusyId++;
    this.busyCalls.set(id, { reason, deadlineMs: nowMs + seconds * 1000 });
    return id;
  }

  endBusy(id: number): void {
    this.busyCalls.delete(id);
  }

  /** Returns the gauge fields of a heartbeat at `nowMs` (monotonic milliseconds). */
  gauges(nowMs: number): Record<string, unknown> {
    const fields: Record<string, unknown> = { status: this.status };
    if (this.iteration !== undefined || this.pingCount > 0) {
      // Without an explicit iteration number, the count of ping() calls shows progress.
      fields["iteration_count"] = this.iteration ?? this.pingCount;
    }
    if (this.memoryMb !== undefined) {
      fields["memory_mb"] = this.memoryMb;
    }

    // Always sent, so that the end of busy() reaches the server as 0, which clears it.
    let longest: BusyCall | null = null;
    for (const call of this.busyCalls.values()) {
      if (longest === null || call.deadlineMs > longest.deadlineMs) {
        longest = call;
      }
    }
    const remainingMs = longest === null ? 0 : Math.max(longest.deadlineMs - nowMs, 0);
    fields["busy_seconds"] = Math.round(Math.min(remainingMs / 1000, MAX_BUSY_SECONDS) * 1000) / 1000;
    if (longest !== null && remainingMs > 0 && longest.reason !== "") {
      fields["busy_reason"] = truncateCodePoints(longest.reason, MAX_BUSY_REASON);
    }
    return fields;
  }

  private countDrop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}
