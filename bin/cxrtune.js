#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/ (npm run build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('cxrtune: not built yet — run `npm run bootstrap` (or `npm run build`) first.');
  process.exit(1);
}
const { main: run } = await import(main.href);
await run();
