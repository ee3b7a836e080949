import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

// Packs the package as `npm pack` would for publishing (from the dist/ that `npm test`
// builds first), installs the tarball into a fresh project and uses it from there.
const PACKAGE_DIR = join(__dirname, "..", "..");
const TSC = join(PACKAGE_DIR, "node_modules", "typescript", "bin", "tsc");
let project: string;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false" } });
}

before(() => {
  project = mkdtempSync(join(tmpdir(), "clevagent-consumer-"));
  const packed = JSON.parse(run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", project], PACKAGE_DIR)) as { filename: string }[];
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  run("npm", ["install", "--offline", "--no-package-lock", join(project, packed[0]!.filename)], project);
});

after(() => {
  rmSync(project, { recursive: true, force: true });
});

describe("packed package", () => {
  test("has no runtime dependencies", () => {
    const manifest = JSON.parse(readFileSync(join(project, "node_modules", "clevagent", "package.json"), "utf8")) as Record<string, unknown>;
    assert.equal(manifest["name"], "clevagent");
    assert.equal(manifest["dependencies"], undefined);
    assert.deepEqual(readInstalledPackages(), ["clevagent"]);
  });

  test("require works", () => {
    const script = "const c = require('clevagent'); console.log([typeof c.init, typeof c.default.ping, typeof c.busy, c.version].join(' '))";
    assert.equal(run(process.execPath, ["-e", script], project).trim(), "function function function 0.1.0");
  });

  test("import works", () => {
    const script = "import clevagent, { logCost, version } from 'clevagent'; console.log(typeof clevagent.init, logCost(1, 0.1).ok, version)";
    assert.equal(run(process.execPath, ["--input-type=module", "-e", script], project).trim(), "function false 0.1.0");
  });

  test("ESM and CommonJS copies share one client", () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "import clevagent from 'clevagent';",
      "const required = createRequire(import.meta.url)('clevagent');",
      "required.init({ apiKey: 'cv_x', agent: 'shared', endpoint: 'http://127.0.0.1:9' });",
      "console.log(clevagent.logCost(1, 0.1).ok);",
      "await clevagent.shutdown({ timeoutMs: 100 });",
    ].join("\n");
    assert.equal(run(process.execPath, ["--input-type=module", "-e", script], project).trim(), "true");
  });

  test("types resolve for ESM and CommonJS", () => {
    const source = [
      "import clevagent, { type InitOptions, type LogCostResult } from 'clevagent';",
      "const options: InitOptions = { apiKey: 'cv_x', agent: 'typed', onLoop: (warning) => console.log(warning.type) };",
      "const result: LogCostResult = clevagent.logCost(1, 0.5);",
      "const done: Promise<boolean> = clevagent.shutdown();",
      "const value: Promise<number> = clevagent.busy('slow call', 30, async () => 42);",
      "// @ts-expect-error: status only takes the documented values",
      "clevagent.ping({ status: 'fine' });",
      "export { options, result, done, value };",
    ].join("\n");
    writeFileSync(join(project, "consumer.mts"), source);
    writeFileSync(join(project, "consumer.cts"), source);
    const flags = ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node", "--skipLibCheck", "false"];
    // @types/node comes from the SDK's own devDependencies.
    run(process.execPath, [TSC, ...flags, "--typeRoots", join(PACKAGE_DIR, "node_modules", "@types"), "consumer.mts", "consumer.cts"], project);
  });
});

function readInstalledPackages(): string[] {
  const lock = JSON.parse(run("npm", ["ls", "--json", "--all"], project)) as { dependencies?: Record<string, unknown> };
  return Object.keys(lock.dependencies ?? {});
}
