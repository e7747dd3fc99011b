#!/usr/bin/env node
// Runs the test suite (node:test over test/**/*.test.ts through tsx). Heavy suites
// (long training, load tests) run only with CXRTUNE_HEAVY=1 (npm run test:heavy).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const files = [];
const walk = (d) => {
  for (const f of readdirSync(d).sort()) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (f.endsWith('.test.ts')) files.push(p);
  }
};
walk(join(root, 'test'));
const only = process.argv.slice(2);
const chosen = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
// With no file, node --test would discover every test it can find (dist/ included): refuse instead.
if (!chosen.length) {
  console.error(`no test file matches ${only.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...chosen], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
