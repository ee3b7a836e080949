/**
 * The hosted documentation's full TypeScript example, runnable against `clevagent serve`:
 *
 *   export CLEVAGENT_API_KEY=cv_...            # from `clevagent key create PROJECT`
 *   export CLEVAGENT_ENDPOINT=http://127.0.0.1:8080   # the default of the SDK anyway
 *   node build/examples/agent.mjs
 *
 * ITERATIONS (default 5) sets how many LLM calls the agent makes before it finishes.
 */
import clevagent from "clevagent";
import { openai } from "./llm-stand-in.mjs";

clevagent.init({
  apiKey: process.env.CLEVAGENT_API_KEY!,
  agent: "my-node-agent",
  onLoop: "alert_only",
  onCostExceeded: () => {
    console.log("Cost limit reached, shutting down...");
    process.exit(1);
  },
});

const iterations = Number(process.env.ITERATIONS ?? "5");
for (let iteration = 1; iteration <= iterations; iteration++) {
  // The agent's work loop: one model call per iteration.
  const result = await openai.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: `Summarize the Q3 earnings report, part ${iteration}` }],
  });
  clevagent.ping({
    tokensUsed: result.usage?.total_tokens,
    costUsd: 0.003,
    status: "ok",
  });
  console.log(`iteration ${iteration}: ${result.usage?.total_tokens ?? 0} tokens`);
}

// The final heartbeat goes out when the event loop runs empty; awaiting it here makes
// the end explicit and reports whether the server acknowledged it.
const acknowledged = await clevagent.shutdown();
console.log(acknowledged ? "final heartbeat acknowledged" : "final heartbeat not acknowledged");
