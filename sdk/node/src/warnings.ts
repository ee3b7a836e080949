import type { ServerWarning, WarningAction } from "./types.js";

type ActionKind = "loop" | "cost";

// Warning types the server sends, by the option that handles them. Other types start no
// action, because "stop" must never fire on a signal the agent's author did not choose.
const ACTION_BY_WARNING: Record<string, ActionKind> = {
  loop: "loop",
  cost_exceeded: "cost",
  budget: "cost",
  cost_budget: "cost",
};

const OPTION_NAMES: Record<ActionKind, string> = { loop: "onLoop", cost: "onCostExceeded" };
const DESCRIPTIONS: Record<ActionKind, string> = { loop: "loop detected", cost: "cost budget exceeded" };

/** Process effects of the actions, replaceable in tests. */
export interface ActionEffects {
  writeStderr(line: string): void;
  /** Ends the process with status 1 after a best-effort final heartbeat. */
  stopProcess(): void;
  reportError(context: string, error: unknown): void;
}

/**
 * Turns the warning of heartbeat responses into the agent's onLoop and onCostExceeded
 * actions, once per episode: from the first response with a warning of that kind until
 * a response without it.
 */
export class WarningActions {
  private active: ActionKind | null = null;

  constructor(
    private readonly agent: string,
    private readonly settings: { onLoop: WarningAction; onCostExceeded: WarningAction },
    private readonly effects: ActionEffects,
  ) {}

  /** Handles the `warning` field of one acknowledged heartbeat (null or absent when none). */
  observe(warning: unknown): void {
    const fields = isRecord(warning) ? warning : null;
    const kind = fields !== null ? ACTION_BY_WARNING[String(fields["type"])] ?? null : null;
    const started = kind !== null && kind !== this.active;
    this.active = kind;
    if (started && fields !== null) {
      this.run(kind, fields);
    }
  }

  private run(kind: ActionKind, warning: Record<string, unknown>): void {
    const setting = kind === "loop" ? this.settings.onLoop : this.settings.onCostExceeded;
    if (typeof setting === "function") {
      this.callGuarded(setting, kind, warning);
      return;
    }

    this.effects.writeStderr(formatAlertLine(this.agent, kind, warning, setting));
    if (setting === "stop") {
      this.effects.stopProcess();
    }
  }

  private callGuarded(handler: (warning: ServerWarning) => void | Promise<void>, kind: ActionKind, warning: Record<string, unknown>): void {
    const context = `the ${OPTION_NAMES[kind]} handler`;
    try {
      const result: unknown = handler({ ...warning } as unknown as ServerWarning);
      if (isRecord(result) && typeof result["then"] === "function") {
        (result as unknown as PromiseLike<void>).then(undefined, (error: unknown) => this.effects.reportError(context, error));
      }
    } catch (error) {
      this.effects.reportError(context, error);
    }
  }
}

/** Formats the stderr line of "alert_only" and "stop" for one warning. */
export function formatAlertLine(agent: string, kind: ActionKind, warning: Record<string, unknown>, setting: "alert_only" | "stop"): string {
  const detail = [warning["message"], warning["signal"]].find((item) => typeof item === "string" && item !== "") as string | undefined;
  const consequence = setting === "stop" ? `stopping the process (${OPTION_NAMES[kind]} is "stop")` : "the agent keeps running";
  const what = `clevagent: ${DESCRIPTIONS[kind]} for agent ${JSON.stringify(agent)}`;
  const line = detail === undefined ? `${what}; ${consequence}` : `${what}: ${detail}; ${consequence}`;
  return `${line.replace(/[\r\n]+/g, " ")}\n`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
