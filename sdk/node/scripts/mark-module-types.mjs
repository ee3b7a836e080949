// Marks dist/esm as ES modules and dist/cjs as CommonJS. Both folders hold .js files, and
// Node (and TypeScript's node16 resolution) read the module format from the nearest
// package.json, so each output folder needs its own.
import { writeFileSync } from "node:fs";

const formats = { esm: "module", cjs: "commonjs" };
for (const [folder, type] of Object.entries(formats)) {
  const path = new URL(`../dist/${folder}/package.json`, import.meta.url);
  writeFileSync(path, JSON.stringify({ type }, null, 2) + "\n");
}
