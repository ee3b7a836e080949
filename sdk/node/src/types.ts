/** The status an agent reports in a heartbeat. */
export type HeartbeatStatus = "ok" | "warning" | "error" | "shutdown";

/**
 * What the SDK does when a heartbeat response starts a warning episode: "alert_only"
 * writes one line to stderr, "stop" writes that line, sends a final heartbeat and exits
 * the process with status 1, and a function is called with the warning (what it throws
 * or rejects with is caught).
 */
export type WarningAction = "alert_only" | "stop" | ((warning: ServerWarning) => void | Promise<void>);

/** The warning object a heartbeat response carries when a detector fired for the agent, as the server sent it. */
export interface ServerWarning {
  [field: string]: unknown;
  /** "loop", "cost_exceeded", or another kind the server may add. */
  type: string;
  /** The detector signal, for example "tool_call_rate" or "daily_cost". */
  signal?: string;
  value?: number;
  threshold?: number;
  message?: string;
}

export interface InitOptions {
  /** Project API key (cv_...). */
  apiKey: string;
  /** Agent name, unique within the project, 1 to 128 characters. */
  agent: string;
  /** Seconds between heartbeats, at least 1 (default 60). The server's per-plan minimum wins when it is larger. */
  interval?: number;
  /** Server base URL. Defaults to CLEVAGENT_ENDPOINT, then http://127.0.0.1:8080. */
  endpoint?: string;
  /** Action when the server reports a loop (default "stop"). */
  onLoop?: WarningAction;
  /** Action when the server reports that the daily cost budget is exceeded (default "alert_only"). */
  onCostExceeded?: WarningAction;
  /** Framework identifier stored with the agent, for example "langchain". */
  agentType?: string;
  /** Writes the SDK's own diagnostics to stderr (default false: the SDK prints only the lines its contract names). */
  debug?: boolean;
}

export interface PingOptions {
  /** The agent's status (default "ok"); later heartbeats repeat it until the next ping(). */
  status?: HeartbeatStatus;
  /** Free text, sent once; the SDK keeps the first 2,000 code points, as the server does. */
  message?: string;
  /** Tokens used since the previous ping. */
  tokensUsed?: number | null;
  /** Dollars spent since the previous ping. */
  costUsd?: number | null;
  /** Tool calls made since the previous ping. */
  toolCalls?: number | null;
  /** The agent's current iteration number. Without one, the count of ping() calls is sent. */
  iterationCount?: number | null;
  /** Memory use in MiB, repeated by later heartbeats. Until one is given, the SDK sends the process's resident set size. */
  memoryMb?: number | null;
}

/** The result of logCost(): the values echoed back, with ok false and an error when they were not recorded. */
export interface LogCostResult {
  ok: boolean;
  tokens: unknown;
  costUsd: unknown;
  error?: string;
}
