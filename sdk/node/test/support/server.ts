/**
 * The real ingest server for integration tests: a fresh database on the PostgreSQL at
 * CLEVAGENT_TEST_DATABASE_URL (an admin URL, default postgresql://postgres@127.0.0.1:5432/postgres),
 * migrated, with an enterprise project and a key, served by `clevagent serve` on a free port.
 * The clevagent command is CLEVAGENT_BIN, else the repository's .venv, else PATH. psql
 * creates and drops the database.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { waitForAsync } from "./wait.js";

const REPOSITORY = resolve(__dirname, "..", "..", "..", "..", "..");
const ADMIN_URL = process.env["CLEVAGENT_TEST_DATABASE_URL"] ?? "postgresql://postgres@127.0.0.1:5432/postgres";

function clevagentCommand(): string {
  const configured = process.env["CLEVAGENT_BIN"];
  if (configured) {
    return configured;
  }
  const venv = join(REPOSITORY, ".venv", "bin", "clevagent");
  return existsSync(venv) ? venv : "clevagent";
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, "127.0.0.1", done));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface StatusAgent {
  name: string;
  status: string;
  agent_type: string;
  tokens_today: number;
  cost_usd_today: number;
  last_heartbeat_at: string | null;
}

export class IngestServer {
  readonly database: string;
  readonly databaseUrl: string;
  readonly logPath: string;
  apiKey = "";
  port = 0;
  private process: ChildProcess | null = null;

  private constructor() {
    this.database = `sdk_node_${randomBytes(6).toString("hex")}`;
    this.databaseUrl = databaseUrl(this.database);
    this.logPath = join(tmpdir(), `${this.database}-serve.log`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Creates and migrates the database, a project and a key, and starts serving. */
  static async create(): Promise<IngestServer> {
    const server = new IngestServer();
    execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", ADMIN_URL, "-c", `CREATE DATABASE "${server.database}"`]);
    server.admin(["db", "migrate"]);
    server.admin(["project", "create", server.database, "--plan", "enterprise", "--json"]);
    const key = JSON.parse(server.admin(["key", "create", server.database, "--json"])) as { key: string };
    server.apiKey = key.key;
    server.port = await freePort();
    await server.start();
    return server;
  }

  private admin(args: string[]): string {
    return execFileSync(clevagentCommand(), [...args, "--database-url", this.databaseUrl], { encoding: "utf8" });
  }

  /** Starts `clevagent serve` on the same port as before and waits for /healthz. */
  async start(): Promise<void> {
    const log = openSync(this.logPath, "a");
    this.process = spawn(clevagentCommand(), ["serve", "--port", String(this.port), "--database-url", this.databaseUrl], {
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    const child = this.process;
    await waitForAsync("clevagent serve to answer /healthz", async () => {
      if (child.exitCode !== null) {
        throw new Error(`clevagent serve exited with ${child.exitCode}:\n${this.log()}`);
      }
      const response = await fetch(`${this.url}/healthz`);
      return response.ok;
    }, 60_000);
  }

  /** Stops the server with SIGTERM, as an outage. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = null;
    if (child === null || child.exitCode !== null) {
      return;
    }
    const exited = new Promise((done) => child.once("exit", done));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and drops the database. */
  async destroy(): Promise<void> {
    await this.stop();
    execFileSync("psql", ["-q", ADMIN_URL, "-c", `DROP DATABASE IF EXISTS "${this.database}" WITH (FORCE)`]);
  }

  async statusAgent(name: string): Promise<StatusAgent | undefined> {
    const response = await fetch(`${this.url}/api/v1/status`, { headers: { "X-API-Key": this.apiKey } });
    if (!response.ok) {
      throw new Error(`GET /api/v1/status answered ${response.status}`);
    }
    const body = (await response.json()) as { agents: StatusAgent[] };
    return body.agents.find((agent) => agent.name === name);
  }

  /** Runs one SQL query on the test database and returns the rows as tab-separated text. */
  query(sql: string): string {
    return execFileSync("psql", ["-q", "-A", "-t", "-F", "\t", this.databaseUrl, "-c", sql], { encoding: "utf8" }).trim();
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }
}
