/**
 * A local stand-in for the `openai` client, so that the example runs where no LLM vendor
 * is reachable. It has the shape the example uses: chat.completions.create() resolving to
 * a completion with usage.total_tokens. Replace it with `new OpenAI()` in a real agent.
 */
interface Completion {
  choices: { message: { role: "assistant"; content: string } }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

interface CompletionRequest {
  model: string;
  messages: { role: string; content: string }[];
}

export const openai = {
  chat: {
    completions: {
      async create(request: CompletionRequest): Promise<Completion> {
        await new Promise((resolve) => setTimeout(resolve, 200));
        const prompt = request.messages.map((message) => message.content).join(" ");
        const promptTokens = Math.ceil(prompt.length / 4);
        return {
          choices: [{ message: { role: "assistant", content: `Summary of: ${prompt.slice(0, 40)}` } }],
          usage: { prompt_tokens: promptTokens, completion_tokens: 25, total_tokens: promptTokens + 25 },
        };
      },
    },
  },
};
