// The evaluate/explain/report/demo commands as a user meets them: help text, and mistakes
// ending in one line on stderr with exit code 1 (no stack trace, nothing half-written).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });

test('help names the options and examples', () => {
  for (const [cmd, must] of [
    ['evaluate', /--allow-train-overlap/],
    ['explain', /--top-losses/],
    ['report', /--eval/],
    ['demo', /--pretrained/],
  ] as const) {
    const r = cli(cmd, '--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, must);
    assert.match(r.stdout, /Example/);
  }
});

test('user mistakes: one line, exit 1, nothing written', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'cxr-cli-')), 'o');
  for (const args of [
    ['evaluate', '--model', '/nonexistent/run', '--manifest', 'm.csv', '--out', out],
    ['explain', '--model', '/nonexistent/run', '--out', out],
    ['report', '/nonexistent/run', '--out', join(out, 'r.html')],
    ['evaluate', '--model', 'x', '--manifest', 'm.csv', '--out', out, '--threshold', '2'],
    ['demo', '--data', 'a', '--manifest', 'b', '--out', out],
  ]) {
    const r = cli(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.equal(existsSync(out), false);
});
