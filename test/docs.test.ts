// The user docs stay true to the CLI: every `cxrtune …` command they show (fenced blocks and
// inline code) names a real subcommand and only flags that command defines, read from the
// program's own commander definitions; no path of a developer's machine; tables keep their
// columns (an unescaped `|` inside a code span splits a cell on GitHub).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/main.js';

const root = join(import.meta.dirname, '..');
const docFiles = [
  'README.md',
  'SECURITY.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
].filter((f) => existsSync(join(root, f)));

export interface Invocation {
  file: string;
  line: number;
  text: string;
}

/** Shell-ish lines of the fenced blocks (continuations joined) and every inline code span. */
export function codeSnippets(markdown: string, file: string): Invocation[] {
  const out: Invocation[] = [];
  const lines = markdown.split('\n');
  let fence: string | null = null;
  let pending: { line: number; text: string } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      fence = fence === null ? m[1]! : line.trim().startsWith(fence) ? null : fence;
      continue;
    }
    if (fence !== null) {
      const text: string = pending ? `${pending.text} ${line.trim()}` : line;
      const start: number = pending ? pending.line : i + 1;
      if (/\\\s*$/.test(line)) pending = { line: start, text: text.replace(/\\\s*$/, '') };
      else {
        pending = null;
        // Shell commands split at ;, && and pipes; a comment ends the command.
        for (const part of text.replace(/(^|\s)#.*$/, '').split(/\s(?:&&|\|\||;|\|)\s/))
          out.push({ file, line: start, text: part });
      }
      continue;
    }
    // Inline spans: a table's `\|` is a literal bar (alternatives such as train\|evaluate).
    for (const s of line.matchAll(/(`+)(.+?)\1/g)) out.push({ file, line: i + 1, text: s[2]!.replace(/\\\|/g, '|') });
  }
  return out;
}

// `cxrtune`, `npx cxrtune`, `node bin/cxrtune.js`, `npm run cxrtune --` or `npm run demo --` (= demo).
const INVOKE = new RegExp(
  [
    String.raw`(?:^|[\s(])(?:npx\s+cxrtune|node\s+bin\/cxrtune\.js|npm\s+run\s+cxrtune\s+--|cxrtune)(?=\s|$)`,
    String.raw`(?:^|[\s(])npm\s+run\s+demo(?:\s+--)?(?=\s|$)`,
  ].join('|'),
  'g',
);

/** The arguments after each invocation of the CLI in a snippet (demo's get 'demo' in front). */
export function cliArgs(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(INVOKE)) {
    const rest = text.slice(m.index + m[0].length).trim();
    const args = rest
      .split(/\s+/)
      .filter(Boolean)
      .map((a) => a.replace(/^['"]|['"]$/g, ''));
    // The next invocation on the same line starts a command of its own.
    const stop = args.findIndex((a) => a === 'cxrtune' || a === 'npx' || a === 'npm');
    const own = stop >= 0 ? args.slice(0, stop) : args;
    out.push(/npm\s+run\s+demo/.test(m[0]) ? ['demo', ...own] : own);
  }
  return out;
}

function longFlags(cmd: Command): Set<string> {
  const flags = new Set(['--help']);
  for (const o of cmd.options) {
    if (o.long) flags.add(o.long);
    if (o.short) flags.add(o.short);
  }
  return flags;
}

/** Problems of one invocation against the program: an unknown subcommand or flag. */
export function checkArgs(program: Command, args: string[]): string[] {
  const problems: string[] = [];
  const walk = (cmd: Command, rest: string[], path: string[]): void => {
    const next = rest[0];
    if (next !== undefined && !next.startsWith('-') && cmd.commands.length > 0) {
      const names = next.split('|');
      const subs = names.map((n) => cmd.commands.find((c) => c.name() === n || c.aliases().includes(n)));
      if (subs.every(Boolean)) {
        for (const sub of subs) walk(sub!, rest.slice(1), [...path, sub!.name()]);
        return;
      }
      // A lower-case word where only subcommands fit is a wrong one; placeholders (RUN, …) pass.
      if (/^[a-z][a-z0-9|-]*$/.test(next) && cmd.registeredArguments.length === 0) {
        problems.push(`unknown command 'cxrtune ${[...path, next].join(' ')}'`);
        return;
      }
    }
    const flags = longFlags(cmd);
    if (path.length === 0) flags.add('--version');
    for (const a of rest) {
      if (!/^--?[a-zA-Z]/.test(a)) continue;
      const flag = a.replace(/[=,].*$/, '').replace(/[).,:;]+$/, '');
      if (!flags.has(flag)) problems.push(`unknown option '${flag}' for 'cxrtune ${path.join(' ')}'`);
    }
  };
  walk(program, args, []);
  return problems;
}

test('every cxrtune command line in the docs names a real subcommand and its own flags', (t) => {
  const program = buildProgram();
  const problems: string[] = [];
  let checked = 0;
  for (const file of docFiles) {
    for (const s of codeSnippets(readFileSync(join(root, file), 'utf8'), file)) {
      for (const args of cliArgs(s.text)) {
        checked++;
        for (const p of checkArgs(program, args)) problems.push(`${s.file}:${s.line}: ${p}: ${s.text.trim()}`);
      }
    }
  }
  t.diagnostic(`${checked} command lines in ${docFiles.length} files`);
  assert.deepEqual(problems, []);
  // The README's quickstart alone has a dozen; far fewer means the extraction broke.
  assert.ok(checked > 50, `only ${checked} command lines found`);
});

test('the checker itself: a wrong flag, a wrong subcommand, alternatives and demo', () => {
  const program = buildProgram();
  assert.deepEqual(checkArgs(program, ['data', 'build', '--data', 'x']), [
    "unknown option '--data' for 'cxrtune data build'",
  ]);
  assert.deepEqual(checkArgs(program, ['data', 'build', '--data-dir', 'x', '--out', 'y']), []);
  assert.deepEqual(checkArgs(program, ['trian', '--epochs', '2']), ["unknown command 'cxrtune trian'"]);
  assert.deepEqual(checkArgs(program, ['weights', 'list|import|pull']), []);
  assert.deepEqual(checkArgs(program, ['train', '--epochs=3', '--fit', 'letterbox|crop']), []);
  assert.deepEqual(cliArgs('npm run demo -- --data DIR --recipe paper'), [
    ['demo', '--data', 'DIR', '--recipe', 'paper'],
  ]);
  assert.deepEqual(cliArgs('CXRTUNE_THREADS=2 npx cxrtune info --json'), [['info', '--json']]);
  assert.deepEqual(
    codeSnippets('```sh\ncxrtune train --manifest m \\\n  --epochs 2   # two\n```\n', 'x.md').map((s) => s.text),
    ['cxrtune train --manifest m  --epochs 2  '],
  );
});

test('the docs name no path of a developer machine', () => {
  const found: string[] = [];
  for (const file of docFiles) {
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const bad of ['/work/', '/home/', '../shared'])
          if (line.includes(bad)) found.push(`${file}:${i + 1}: ${bad}`);
      });
  }
  assert.deepEqual(found, []);
});

test('every table row has as many cells as its header', () => {
  const bad: string[] = [];
  // GitHub splits a row at every bar not escaped as \| (inside code spans too).
  const cells = (row: string) =>
    row
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split(/(?<!\\)\|/).length;
  for (const file of docFiles) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    for (let i = 1; i < lines.length; i++) {
      if (!/^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(lines[i]!) || !lines[i - 1]!.includes('|'))
        continue;
      const n = cells(lines[i - 1]!);
      for (let j = i + 1; j < lines.length && lines[j]!.trim().startsWith('|'); j++)
        if (cells(lines[j]!) !== n) bad.push(`${file}:${j + 1}: ${cells(lines[j]!)} cells, header ${n}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('every file the docs link to or name in the tree exists', () => {
  const missing: string[] = [];
  // Paths of the tree (src/…, test/…, scripts/…, native/…) or of a layer (app/…, engine/…: under src/).
  const treePath = new RegExp(
    String.raw`(?<![\w/.-])((?:src|test|scripts|native)\/[\w./-]*\.(?:ts|mjs|cc|h|py|sh)` +
      String.raw`|(?:app|engine|data|recipe|util|bench|cli)\/[\w./-]*\.ts)\b`,
    'g',
  );
  for (const file of docFiles) {
    const text = readFileSync(join(root, file), 'utf8');
    const dir = join(root, file, '..');
    for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(m[1]!)) continue; // http:, mailto:
      if (!existsSync(join(dir, m[1]!))) missing.push(`${file}: link ${m[1]}`);
    }
    for (const m of text.matchAll(treePath)) {
      const p = m[1]!;
      if (!existsSync(join(root, p)) && !existsSync(join(root, 'src', p))) missing.push(`${file}: ${p}`);
    }
  }
  assert.deepEqual(missing, []);
});

test("no command's help prints a path of the machine it was built on", () => {
  const found: string[] = [];
  const walk = (cmd: Command, path: string[]): void => {
    for (const line of cmd.helpInformation().split('\n'))
      if (line.includes(root) || /\/(work|home)\//.test(line)) found.push(`${path.join(' ')}: ${line.trim()}`);
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  walk(buildProgram(), ['cxrtune']);
  assert.deepEqual(found, []);
});
