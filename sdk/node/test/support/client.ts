import { Client, defaultDependencies, type ClientDependencies } from "../../src/client.js";
import { resolveInitOptions, validatePingOptions } from "../../src/options.js";
import type { InitOptions, PingOptions } from "../../src/types.js";
import { VALID_KEY } from "./standin.js";

/** A Client whose stderr lines and exit codes are captured instead of reaching the test process. */
export interface TestClient {
  client: Client;
  stderr: string[];
  exits: number[];
  ping(options?: PingOptions): void;
}

/** Builds a client for `endpoint` with a 1 s interval unless `options` sets another. */
export function makeClient(endpoint: string, options: Partial<InitOptions> = {}, deps: Partial<ClientDependencies> = {}): TestClient {
  const stderr: string[] = [];
  const exits: number[] = [];
  const config = resolveInitOptions({ apiKey: VALID_KEY, agent: "test-agent", endpoint, interval: 1, ...options }, {});
  const client = new Client(config, {
    ...defaultDependencies,
    writeStderr: (line: string) => void stderr.push(line),
    exit: (code: number) => void exits.push(code),
    ...deps,
  });
  return { client, stderr, exits, ping: (pingOptions = {}) => client.ping(validatePingOptions(pingOptions)) };
}
