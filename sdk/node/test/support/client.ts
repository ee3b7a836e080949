import { Client, defaultDependencies, type ClientDependencies } from "../../src/client.js";
import { resolveInitOptions } from "../../src/options.js";
import type { InitOptions } from "../../src/types.js";
import { VALID_KEY } from "./standin.js";

/** A Client whose stderr lines and exit codes are captured instead of reaching the test process. */
export interface TestClient {
  client: Client;
  stderr: string[];
  exits: number[];
}

export function makeClient(endpoint: string, options: Partial<InitOptions> = {}, deps: Partial<ClientDependencies> = {}): TestClient {
  const stderr: string[] = [];
  const exits: number[] = [];
  const config = resolveInitOptions({ apiKey: VALID_KEY, agent: "test-agent", endpoint, ...options }, {});
  const client = new Client(config, {
    ...defaultDependencies,
    environment: {
      writeStderr: (line) => stderr.push(line),
      exit: (code) => exits.push(code),
      reportError: () => {},
    },
    ...deps,
  });
  return { client, stderr, exits };
}
