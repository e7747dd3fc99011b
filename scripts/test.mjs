#!/usr/bin/env node
// Runs the test suite (node:test over test/**/*.test.ts through tsx). Heavy suites
// (long training, load tests) run only with CXRTUNE_HEAVY=1 (npm run test:heavy).
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
// Every test's temporary files go into one folder that is removed afterwards: tests make
// checkpoints and datasets under os.tmpdir(), and left behind they filled the disk (the golden
// test alone writes 1 GB per run). CXRTUNE_KEEP_TMP=1 keeps it for a post-mortem.
const tmp = mkdtempSync(join(tmpdir(), 'cxrtune-test-run-'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...chosen], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, TMPDIR: tmp },
});
if (process.env.CXRTUNE_KEEP_TMP) console.error(`test files kept in ${tmp}`);
else rmSync(tmp, { recursive: true, force: true });
process.exit(r.status ?? 1);
