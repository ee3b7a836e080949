import type { HeartbeatStatus, InitOptions, PingOptions, WarningAction } from "./types.js";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:8080";
export const ENDPOINT_VARIABLE = "CLEVAGENT_ENDPOINT";
export const DEFAULT_INTERVAL_SECONDS = 60;
export const MIN_INTERVAL_SECONDS = 1;
export const MAX_AGENT_NAME_LENGTH = 128;
export const MAX_AGENT_TYPE_LENGTH = 64;
export const MAX_MESSAGE_CODE_POINTS = 2000;

const STATUSES: readonly HeartbeatStatus[] = ["ok", "warning", "error", "shutdown"];

// Control, format and separator characters other than the plain space, which Python's
// str.isprintable() rejects too: a name with them would be hard to type in a CLI command.
const UNPRINTABLE = /(?! )[\p{C}\p{Z}]/u;

/** The options of init() after validation and defaults. */
export interface ClientConfig {
  apiKey: string;
  agent: string;
  intervalMs: number;
  endpoint: string;
  onLoop: WarningAction;
  onCostExceeded: WarningAction;
  agentType: string | undefined;
  debug: boolean;
}

/**
 * Validates the options of init() and fills in defaults: the endpoint from the option,
 * then CLEVAGENT_ENDPOINT, then DEFAULT_ENDPOINT. Throws TypeError or RangeError naming
 * the option.
 */
export function resolveInitOptions(options: InitOptions, env: NodeJS.ProcessEnv): ClientConfig {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`clevagent.init() expects an options object such as {apiKey, agent}, got ${describe(options)}`);
  }
  return {
    apiKey: validateApiKey(options.apiKey),
    agent: validateAgentName(options.agent),
    intervalMs: validateInterval(options.interval) * 1000,
    endpoint: resolveEndpoint(options.endpoint, env),
    onLoop: validateAction("onLoop", options.onLoop, "stop"),
    onCostExceeded: validateAction("onCostExceeded", options.onCostExceeded, "alert_only"),
    agentType: validateAgentType(options.agentType),
    debug: validateBoolean("debug", options.debug),
  };
}

function validateApiKey(apiKey: unknown): string {
  if (typeof apiKey !== "string" || apiKey.trim() === "") {
    throw new TypeError(`clevagent.init(): apiKey must be a non-empty string (project keys start with cv_), got ${describe(apiKey)}`);
  }
  return apiKey.trim();
}

function validateAgentName(agent: unknown): string {
  if (typeof agent !== "string" || agent.trim() === "") {
    throw new TypeError(`clevagent.init(): agent must be a non-empty string naming the agent, got ${describe(agent)}`);
  }
  if (agent.length > MAX_AGENT_NAME_LENGTH) {
    throw new RangeError(`clevagent.init(): agent must be at most ${MAX_AGENT_NAME_LENGTH} characters, got ${agent.length}`);
  }
  if (agent !== agent.trim() || UNPRINTABLE.test(agent)) {
    throw new RangeError(`clevagent.init(): agent must have no control characters and no leading or trailing spaces, got ${JSON.stringify(agent)}`);
  }
  return agent;
}

function validateInterval(interval: unknown): number {
  if (interval === undefined) {
    return DEFAULT_INTERVAL_SECONDS;
  }
  if (typeof interval !== "number") {
    throw new TypeError(`clevagent.init(): interval must be a number of seconds, got ${describe(interval)}`);
  }
  if (!(interval >= MIN_INTERVAL_SECONDS && interval < Infinity)) {
    throw new RangeError(`clevagent.init(): interval must be at least ${MIN_INTERVAL_SECONDS} second, got ${interval}`);
  }
  return interval;
}

function resolveEndpoint(endpoint: unknown, env: NodeJS.ProcessEnv): string {
  let source = "endpoint";
  if (endpoint === undefined || endpoint === null) {
    endpoint = env[ENDPOINT_VARIABLE] || DEFAULT_ENDPOINT;
    source = ENDPOINT_VARIABLE;
  }
  if (typeof endpoint !== "string") {
    throw new TypeError(`clevagent.init(): endpoint must be a URL string, got ${describe(endpoint)}`);
  }

  const text = endpoint.trim();
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    // Reported below with the expected form.
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:") || url.host === "") {
    throw new TypeError(`clevagent.init(): ${source} must be an http:// or https:// URL such as ${DEFAULT_ENDPOINT}, got ${JSON.stringify(endpoint)}`);
  }
  // A base URL with a path (behind a reverse proxy) keeps it: the API paths are appended.
  return text.replace(/\/+$/, "");
}

function validateAction(name: string, action: unknown, fallback: WarningAction): WarningAction {
  if (action === undefined) {
    return fallback;
  }
  if (action === "alert_only" || action === "stop" || typeof action === "function") {
    return action as WarningAction;
  }
  throw new TypeError(`clevagent.init(): ${name} must be "alert_only", "stop" or a function, got ${describe(action)}`);
}

function validateAgentType(value: unknown): string | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== "string" || value.length < 1 || value.length > MAX_AGENT_TYPE_LENGTH) {
    throw new TypeError(`clevagent.init(): agentType must be a string of 1 to ${MAX_AGENT_TYPE_LENGTH} characters, got ${describe(value)}`);
  }
  return value;
}

function validateBoolean(name: string, value: unknown): boolean {
  if (value === undefined) {
    return false;
  }
  if (typeof value !== "boolean") {
    throw new TypeError(`clevagent.init(): ${name} must be true or false, got ${describe(value)}`);
  }
  return value;
}

/** A ping() call after validation: absent values are undefined. */
export interface PingValues {
  status: HeartbeatStatus | undefined;
  message: string | undefined;
  tokensUsed: number | undefined;
  costUsd: number | undefined;
  toolCalls: number | undefined;
  iterationCount: number | undefined;
  memoryMb: number | undefined;
}

/** Validates the options of ping(). Throws TypeError or RangeError naming the option. */
export function validatePingOptions(options: PingOptions | undefined): PingValues {
  if (options === undefined || options === null) {
    options = {};
  }
  if (typeof options !== "object") {
    throw new TypeError(`clevagent.ping() expects an options object, got ${describe(options)}`);
  }
  return {
    status: validateStatus(options.status),
    message: validateMessage(options.message),
    tokensUsed: validateCount("ping", "tokensUsed", options.tokensUsed),
    costUsd: validateAmount("ping", "costUsd", options.costUsd),
    toolCalls: validateCount("ping", "toolCalls", options.toolCalls),
    iterationCount: validateCount("ping", "iterationCount", options.iterationCount),
    memoryMb: validateAmount("ping", "memoryMb", options.memoryMb),
  };
}

function validateStatus(status: unknown): HeartbeatStatus | undefined {
  if (status === undefined || status === null) {
    return undefined;
  }
  if (typeof status !== "string") {
    throw new TypeError(`clevagent.ping(): status must be a string, got ${describe(status)}`);
  }
  if (!STATUSES.includes(status as HeartbeatStatus)) {
    throw new RangeError(`clevagent.ping(): status must be one of ${STATUSES.join(", ")}, got ${JSON.stringify(status)}`);
  }
  return status as HeartbeatStatus;
}

function validateMessage(message: unknown): string | undefined {
  if (message === undefined || message === null) {
    return undefined;
  }
  if (typeof message !== "string") {
    throw new TypeError(`clevagent.ping(): message must be a string, got ${describe(message)}`);
  }
  return truncateCodePoints(message, MAX_MESSAGE_CODE_POINTS);
}

/** Validates a non-negative integer option; null and undefined mean absent. */
export function validateCount(fn: string, name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== "number") {
    throw new TypeError(`clevagent.${fn}(): ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`clevagent.${fn}(): ${name} must be a non-negative integer, got ${value}`);
  }
  return value;
}

/** Validates a non-negative finite number option; null and undefined mean absent. */
export function validateAmount(fn: string, name: string, value: unknown): number | undefined {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== "number") {
    throw new TypeError(`clevagent.${fn}(): ${name} must be a number, got ${describe(value)}`);
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`clevagent.${fn}(): ${name} must be a finite number >= 0, got ${value}`);
  }
  return value;
}

/** Returns the first `max` code points of text, never splitting a surrogate pair. */
export function truncateCodePoints(text: string, max: number): string {
  if (text.length <= max) {
    return text;
  }
  // Walk code points instead of Array.from(text), which would copy a huge message whole.
  let end = 0;
  let count = 0;
  for (const codePoint of text) {
    if (count === max) {
      break;
    }
    end += codePoint.length;
    count += 1;
  }
  return text.slice(0, end);
}

/** Describes a value for an error message without dumping large objects. */
export function describe(value: unknown): string {
  if (value === null) {
    return "null";
  }
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  }
  if (typeof value === "object") {
    return Array.isArray(value) ? "an array" : "an object";
  }
  return `${typeof value} ${String(value)}`;
}
