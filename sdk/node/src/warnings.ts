import type { ServerWarning, WarningAction } from "./types.js";

/** The option of init() that handles each warning type. Other types start no action. */
const ACTION_OPTIONS: Record<string, "onLoop" | "onCostExceeded"> = {
  loop: "onLoop",
  cost_exceeded: "onCostExceeded",
};

/**
 * Tracks warning episodes, so that an action runs once per episode rather than on every
 * heartbeat response that repeats the warning. An episode of a type starts with the first
 * response that carries it and ends with the first response that carries no warning.
 */
export class WarningEpisodes {
  private readonly active = new Set<string>();

  /** Returns the warning when the response starts a new episode, otherwise null. */
  observe(responseWarning: unknown): ServerWarning | null {
    const warning = parseWarning(responseWarning);
    if (warning === null) {
      this.active.clear();
      return null;
    }
    if (this.active.has(warning.type)) {
      return null;
    }
    this.active.add(warning.type);
    return warning;
  }
}

/** Reads the warning object of a heartbeat response, or returns null when there is none or it is malformed. */
export function parseWarning(value: unknown): ServerWarning | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return null;
  }
  const fields = value as Record<string, unknown>;
  if (typeof fields["type"] !== "string") {
    return null;
  }

  const warning: ServerWarning = { type: fields["type"] };
  if (typeof fields["signal"] === "string") warning.signal = fields["signal"];
  if (typeof fields["value"] === "number") warning.value = fields["value"];
  if (typeof fields["threshold"] === "number") warning.threshold = fields["threshold"];
  if (typeof fields["message"] === "string") warning.message = fields["message"];
  return warning;
}

/** The dependencies of runWarningAction, replaceable in tests. */
export interface ActionEnvironment {
  writeStderr(line: string): void;
  exit(code: number): void;
  reportError(context: string, error: unknown): void;
}

export const processEnvironment: ActionEnvironment = {
  writeStderr: (line) => {
    process.stderr.write(line);
  },
  exit: (code) => {
    process.exit(code);
  },
  reportError: () => {},
};

/**
 * Runs the action configured for the warning's type. Returns the option name that ran,
 * or null for a type without an action. Never throws: a throwing or rejecting handler
 * is reported through `environment.reportError`.
 */
export function runWarningAction(
  warning: ServerWarning,
  agent: string,
  actions: { onLoop: WarningAction; onCostExceeded: WarningAction },
  environment: ActionEnvironment,
): string | null {
  const option = ACTION_OPTIONS[warning.type];
  if (option === undefined) {
    return null;
  }
  const action = actions[option];

  if (typeof action === "function") {
    callGuarded(action, warning, option, environment);
    return option;
  }

  environment.writeStderr(formatWarningLine(warning, agent, action === "stop" ? option : null));
  if (action === "stop") {
    environment.exit(1);
  }
  return option;
}

function callGuarded(
  handler: (warning: ServerWarning) => void | Promise<void>,
  warning: ServerWarning,
  option: string,
  environment: ActionEnvironment,
): void {
  try {
    const result: unknown = handler({ ...warning });
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<void>).then === "function") {
      (result as PromiseLike<void>).then(undefined, (error: unknown) => environment.reportError(`${option} handler`, error));
    }
  } catch (error) {
    environment.reportError(`${option} handler`, error);
  }
}

/** Formats the one stderr line of "alert_only" and "stop". `stopOption` names the option when the process is about to exit. */
export function formatWarningLine(warning: ServerWarning, agent: string, stopOption: string | null): string {
  const parts = [`clevagent: ${warning.type} warning for agent ${JSON.stringify(agent)}`];
  if (warning.signal !== undefined) {
    const measured = warning.value !== undefined && warning.threshold !== undefined ? ` ${warning.value} > ${warning.threshold}` : "";
    parts.push(` (${warning.signal}${measured})`);
  }
  if (warning.message !== undefined) {
    parts.push(`: ${warning.message.replace(/[\r\n]+/g, " ")}`);
  }
  if (stopOption !== null) {
    parts.push(`; exiting with status 1 because ${stopOption} is "stop"`);
  }
  return `${parts.join("")}\n`;
}
