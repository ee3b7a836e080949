import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import { parseRetryAfter } from "./retry.js";
import { SDK_VERSION } from "./version.js";

/** Responses larger than this are cut off; a heartbeat response is a few hundred bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The outcome of one POST: an HTTP response of any status, or the error that prevented one. */
export type PostOutcome =
  | { kind: "response"; status: number; retryAfter: string | undefined; body: unknown }
  | { kind: "error"; error: Error };

export interface PostOptions {
  timeoutMs: number;
  /**
   * Whether the open request keeps the Node process alive. Background heartbeats pass
   * false, so an agent that has finished its work exits without waiting for the server.
   */
  keepProcessAlive: boolean;
}

// Separate agents from the application's, so the SDK's sockets never count against the
// application's pool. Idle keep-alive sockets are unref'd by Node and never hold the process.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 2 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 2 });

/**
 * POSTs a JSON body with the API key and resolves with the outcome. Never rejects:
 * network errors, timeouts and unreadable bodies resolve as `{kind: "error"}`.
 */
export function postJson(url: string, apiKey: string, body: unknown, options: PostOptions): Promise<PostOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: PostOutcome): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      }
    };

    let request: http.ClientRequest;
    try {
      request = startRequest(url, apiKey, options, finish);
      request.end(JSON.stringify(body));
    } catch (error) {
      finish({ kind: "error", error: asError(error) });
      return;
    }

    timer = setTimeout(() => {
      request.destroy(new Error(`request timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    if (!options.keepProcessAlive) {
      timer.unref();
    }
  });
}

function startRequest(url: string, apiKey: string, options: PostOptions, finish: (outcome: PostOutcome) => void): http.ClientRequest {
  const isHttps = url.startsWith("https:");
  const requestOptions: http.RequestOptions = {
    method: "POST",
    agent: isHttps ? httpsAgent : httpAgent,
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      "x-api-key": apiKey,
      "user-agent": `clevagent-node/${SDK_VERSION} node/${process.versions.node}`,
    },
  };
  const request = (isHttps ? https : http).request(url, requestOptions, (response) => {
    readResponse(response, finish);
  });

  request.on("error", (error) => finish({ kind: "error", error }));
  request.on("socket", (socket: Socket) => {
    // The agent ref()s a reused socket, so this runs for new and reused sockets alike.
    if (options.keepProcessAlive) {
      socket.ref();
    } else {
      socket.unref();
    }
  });
  return request;
}

function readResponse(response: http.IncomingMessage, finish: (outcome: PostOutcome) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;

  response.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_RESPONSE_BYTES) {
      chunks.push(chunk);
    }
  });
  response.on("error", (error) => finish({ kind: "error", error }));
  response.on("end", () => {
    const retryAfter = response.headers["retry-after"];
    finish({
      kind: "response",
      status: response.statusCode ?? 0,
      retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      body: parseJson(Buffer.concat(chunks).toString("utf8")),
    });
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** What the client does with the outcome of one heartbeat POST. */
export type Classified =
  | { kind: "ok"; body: Record<string, unknown> }
  | { kind: "retry"; retryAfterMs: number | null; error: string }
  | { kind: "unauthorized"; error: string }
  | { kind: "rejected"; status: number; error: string };

/**
 * Classifies an outcome for the retry policy. 2xx acknowledges the heartbeat and 401
 * stops sending. 429 and 503 wait for the Retry-After delay, while network errors, 408,
 * 425 and other 5xx back off. Any other status rejects this heartbeat for good, so it is
 * dropped rather than retried.
 */
export function classifyOutcome(outcome: PostOutcome, wallClockMs: number): Classified {
  if (outcome.kind === "error") {
    return { kind: "retry", retryAfterMs: null, error: outcome.error.message };
  }

  const { status, body } = outcome;
  if (status >= 200 && status < 300) {
    return { kind: "ok", body: isRecord(body) ? body : {} };
  }
  const error = `HTTP ${status}: ${describeBody(body)}`;
  if (status === 401) {
    return { kind: "unauthorized", error };
  }
  if (status === 429 || status === 503) {
    return { kind: "retry", retryAfterMs: parseRetryAfter(outcome.retryAfter, wallClockMs), error };
  }
  if (status === 408 || status === 425 || status >= 500) {
    return { kind: "retry", retryAfterMs: null, error };
  }
  return { kind: "rejected", status, error };
}

function describeBody(body: unknown): string {
  if (isRecord(body) && "detail" in body) {
    const detail = body["detail"];
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  }
  return body === undefined ? "no JSON body" : JSON.stringify(body).slice(0, 500);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
