/**
 * A local stand-in for the ClevAgent ingest server that enforces the heartbeat contract
 * the SDK relies on: X-API-Key auth with the exact 401 body, 413 past 1 MiB, 422 with a
 * detail list for invalid fields, and de-duplication by (instance_id, seq) that ignores
 * the counters of a seq at or below the highest one stored. Tests script failures
 * (status codes, Retry-After, lost responses) per request.
 */
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export const VALID_KEY = "cv_standin_key";
const MAX_BODY_BYTES = 1024 * 1024;
const STATUSES = ["ok", "warning", "error", "shutdown"];

/** What the stand-in does with one request instead of its normal answer. */
export type Scripted =
  | { kind: "respond"; status: number; headers?: Record<string, string>; body: unknown }
  /** Stores the heartbeat, then closes the connection without a response. */
  | { kind: "store-then-drop" };

export interface ReceivedHeartbeat {
  body: Record<string, unknown>;
  atMs: number;
  /** The HTTP status the stand-in answered with (0 when the connection was dropped). */
  answeredStatus: number;
  duplicate: boolean;
}

export interface AgentTotals {
  tokens: number;
  costUsd: number;
  toolCalls: number;
  stored: number;
}

export class StandInServer {
  readonly received: ReceivedHeartbeat[] = [];
  readonly totals = new Map<string, AgentTotals>();
  readonly script: Scripted[] = [];
  /** The warning returned with every acknowledged heartbeat, until changed. */
  warning: Record<string, unknown> | null = null;
  minIntervalSeconds = 60;
  /** Requests answered 401 (their bodies are not parsed, so they are not in `received`). */
  unauthorizedRequests = 0;

  private readonly lastSeq = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private server: http.Server | null = null;
  private portNumber = 0;

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  get port(): number {
    return this.portNumber;
  }

  /** Starts listening, on `port` when given (to come back on the same port after stop()). */
  async start(port = 0): Promise<void> {
    const server = http.createServer((request, response) => this.handle(request, response));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.portNumber = (server.address() as AddressInfo).port;
  }

  /** Stops listening and cuts every open connection, like a crashed server. */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) {
      return;
    }
    this.server = null;
    for (const socket of this.sockets) {
      socket.destroy();
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  heartbeatsOf(agent: string): ReceivedHeartbeat[] {
    return this.received.filter((item) => item.body["agent"] === agent);
  }

  totalsOf(agent: string): AgentTotals {
    return this.totals.get(agent) ?? { tokens: 0, costUsd: 0, toolCalls: 0, stored: 0 };
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => this.route(request, response, size, Buffer.concat(chunks).toString("utf8")));
  }

  private route(request: http.IncomingMessage, response: http.ServerResponse, size: number, text: string): void {
    if (request.method !== "POST" || request.url !== "/api/v1/heartbeat") {
      return sendJson(response, 404, { detail: "Not Found" });
    }
    if (request.headers["x-api-key"] !== VALID_KEY) {
      this.unauthorizedRequests += 1;
      return sendJson(response, 401, { detail: "Invalid or missing X-API-Key header" });
    }
    if (size > MAX_BODY_BYTES) {
      return sendJson(response, 413, { detail: "Request body too large" });
    }

    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return sendJson(response, 422, { detail: [{ loc: ["body"], msg: "JSON decode error", type: "json_invalid" }] });
    }
    const errors = validateHeartbeat(body);
    if (errors.length > 0) {
      return sendJson(response, 422, { detail: errors });
    }
    this.answerHeartbeat(body as Record<string, unknown>, response);
  }

  private answerHeartbeat(body: Record<string, unknown>, response: http.ServerResponse): void {
    const record: ReceivedHeartbeat = { body, atMs: performance.now(), answeredStatus: 0, duplicate: false };
    this.received.push(record);

    const scripted = this.script.shift();
    if (scripted?.kind === "respond") {
      record.answeredStatus = scripted.status;
      return sendJson(response, scripted.status, scripted.body, scripted.headers);
    }

    record.duplicate = !this.store(body);
    if (scripted?.kind === "store-then-drop") {
      response.socket?.destroy();
      return;
    }
    record.answeredStatus = 200;
    sendJson(response, 200, {
      received: true,
      agent_id: 1,
      status: "healthy",
      duplicate: record.duplicate,
      min_interval_seconds: this.minIntervalSeconds,
      warning: this.warning,
    });
  }

  /** Adds the heartbeat's counters unless its seq was stored already; returns false for a duplicate. */
  private store(body: Record<string, unknown>): boolean {
    const agent = body["agent"] as string;
    const instance = body["instance_id"];
    const seq = body["seq"];
    if (typeof instance === "string" && typeof seq === "number") {
      const key = `${agent}\u0000${instance}`;
      const last = this.lastSeq.get(key);
      if (last !== undefined && seq <= last) {
        return false;
      }
      this.lastSeq.set(key, seq);
    }

    const totals = this.totalsOf(agent);
    totals.tokens += (body["tokens_used"] as number | undefined) ?? 0;
    totals.costUsd += (body["cost_usd"] as number | undefined) ?? 0;
    totals.toolCalls += (body["tool_calls"] as number | undefined) ?? 0;
    totals.stored += 1;
    this.totals.set(agent, totals);
    return true;
  }
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(body));
}

type FieldError = { loc: (string | number)[]; msg: string; type: string };

/** Checks the fields the SDK sends against the documented types and ranges. */
export function validateHeartbeat(body: unknown): FieldError[] {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return [{ loc: ["body"], msg: "Input should be a valid dictionary", type: "dict_type" }];
  }
  const fields = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  const fail = (field: string, msg: string, type: string): void => {
    errors.push({ loc: ["body", field], msg, type });
  };

  const agent = fields["agent"];
  if (agent === undefined) fail("agent", "Field required", "missing");
  else if (typeof agent !== "string" || agent.length < 1 || agent.length > 128) fail("agent", "String should have 1 to 128 characters", "string_type");
  if (fields["status"] !== undefined && !STATUSES.includes(fields["status"] as string)) fail("status", "Input should be 'ok', 'warning', 'error' or 'shutdown'", "enum");

  for (const name of ["tokens_used", "tool_calls", "iteration_count", "seq"]) {
    const value = fields[name];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0)) fail(name, "Input should be an integer >= 0", "int_type");
  }
  for (const name of ["cost_usd", "memory_mb", "busy_seconds"]) {
    const value = fields[name];
    if (value !== undefined && !(typeof value === "number" && Number.isFinite(value) && value >= 0)) fail(name, "Input should be a finite number >= 0", "float_type");
  }
  for (const name of ["message", "agent_type", "timestamp", "busy_reason", "instance_id"]) {
    if (fields[name] !== undefined && typeof fields[name] !== "string") fail(name, "Input should be a valid string", "string_type");
  }
  if (typeof fields["instance_id"] === "string" && fields["instance_id"].length > 64) fail("instance_id", "String should have at most 64 characters", "string_too_long");
  if (typeof fields["timestamp"] === "string" && Number.isNaN(Date.parse(fields["timestamp"]))) fail("timestamp", "Input should be a valid datetime", "datetime_parsing");

  const fingerprints = fields["fingerprints"];
  if (fingerprints !== undefined) {
    const valid = Array.isArray(fingerprints) && fingerprints.length <= 1000 && fingerprints.every((item) => typeof item === "string" && /^[0-9a-f]{1,64}$/.test(item));
    if (!valid) fail("fingerprints", "Input should be a list of at most 1000 hex strings", "list_type");
  }
  return errors;
}
