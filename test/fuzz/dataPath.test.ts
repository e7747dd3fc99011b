// Fuzz suite for the CLI data path (fast-check, fixed seed and run counts): random manifest
// CSVs and raw bytes through readManifest → summarise read or fail with a readable Error;
// the real CLI (src/cli/main.ts as a child process) answers hostile manifests and images
// with exit code 1 and one line on stderr, never a stack trace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import sharp from 'sharp';
import { type Manifest, readManifest } from '../../src/data/manifest.js';
import { formatSummaryTable, summarise } from '../../src/data/summary.js';
import { errorMessage } from '../../src/util/errorMessage.js';
import { adversarialCorpus } from '../fixtures/adversarial.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const SEED = 20261126;
const MANIFEST_RUNS = 400;
const CLI_RUNS = 3;
const spawnCli = (entry: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, entry), ...args], { cwd: root, encoding: 'utf8' });
/** The real `cxrtune` (slow to start: it loads the engine). */
const mainCli = (...args: string[]) => spawnCli('src/cli/main.ts', args);
/** The data commands alone (same code and error path, starts in half the time). */
const cli = (...args: string[]) => spawnCli('test/data/helpers/cli.ts', args);

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cxr-fuzz-data-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** One clear line: exit 1, a single stderr line, no stack trace, no "[object Object]". */
function assertOneLineFailure(r: ReturnType<typeof spawnCli>, what: string): string {
  assert.equal(r.status, 1, `${what}: exit ${r.status}; stderr ${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `${what}: ${lines.length} stderr lines:\n${r.stderr}`);
  assert.doesNotMatch(lines[0]!, /\[object |^\s+at |\bat .*\.(ts|js):\d+/, what);
  return lines[0]!;
}

const cell = fc.oneof(
  fc.constantFrom(
    '',
    'a.png',
    'img/b.dcm',
    'covid',
    'normal',
    'train',
    'valid',
    'test',
    'P1',
    '"',
    '""',
    ',',
    '\n',
    '\r\n',
    ' ',
    '__proto__',
    'constructor',
    '../../etc/passwd',
    '\u0000',
    '\x1b[31m',
    'é',
    '🫁',
  ),
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);
const columnName = fc.oneof(fc.constantFrom('path', 'label', 'patient_id', 'source', 'view', 'split'), cell);
/** Mostly headers a manifest could have (path and label among others), so rows get read too. */
const header = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.subarray(['patient_id', 'source', 'view', 'split']), fc.array(cell, { maxLength: 2 }))
      .chain(([known, extra]) =>
        fc.shuffledSubarray(['path', 'label', ...known, ...extra], { minLength: 2 + known.length + extra.length }),
      ),
  },
  { weight: 1, arbitrary: fc.array(columnName, { maxLength: 8 }) },
);

/** A CSV with a random header and rows, each field raw or quoted at random. */
const csvText = fc
  .record({
    header,
    rows: fc.array(fc.array(fc.record({ v: cell, quote: fc.boolean() }), { maxLength: 9 }), { maxLength: 6 }),
    eol: fc.constantFrom('\n', '\r\n', '\r'),
    bom: fc.boolean(),
  })
  .map(({ header, rows, eol, bom }) => {
    const f = (v: string, q: boolean) => (q ? `"${v.replace(/"/g, '""')}"` : v);
    const lines = [header.map((h) => f(h, false)), ...rows.map((r) => r.map((c) => f(c.v, c.quote)))].map((l) =>
      l.join(','),
    );
    return (bom ? '\ufeff' : '') + lines.join(eol);
  });

const fileContent = fc.oneof(
  { weight: 4, arbitrary: csvText.map((t) => Buffer.from(t, 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
);

test(`fuzz: ${MANIFEST_RUNS} random manifests through readManifest and summarise: rows or a readable Error`, () => {
  const tally = { read: 0, refused: 0 };
  const file = join(dir, 'm.csv');
  fc.assert(
    fc.property(fileContent, (bytes) => {
      writeFileSync(file, bytes);
      let m: Manifest;
      try {
        m = readManifest(file);
      } catch (e) {
        assert.ok(e instanceof Error, `non-Error thrown: ${errorMessage(e)}`);
        const msg = errorMessage(e);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the message must carry no CR, LF or ESC
        assert.ok(msg.length > 0 && msg.length <= 1000 && !/[\r\n\x1b]/.test(msg) && !msg.includes('[object '), msg);
        tally.refused++;
        return;
      }
      for (const r of m.rows) assert.ok(r.path && r.label && r.patientId);
      const s = summarise(m.rows);
      assert.equal(s.images, m.rows.length);
      assert.equal(typeof formatSummaryTable(s), 'string');
      tally.read++;
    }),
    { seed: SEED, numRuns: MANIFEST_RUNS, endOnFailure: true },
  );
  console.log(
    `manifest fuzz: ${MANIFEST_RUNS} files, ${tally.read} read, ${tally.refused} refused with a readable message`,
  );
  assert.ok(tally.read > 0 && tally.refused > 0);
});

test(`CLI: data summary on ${CLI_RUNS} fuzzed manifests and on hostile files: exit 1 and one line, or a table`, () => {
  const cases: [string, Buffer | null][] = [
    [
      'binary.csv',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0, 1, 2]),
    ],
    ['multiline-empty-label.csv', Buffer.from('path,label\n"a\nb\x1b[2J",\n')],
    ['folder.csv', null],
  ];
  const generated = fc.sample(fileContent, { seed: SEED, numRuns: 200 });
  // The fuzzed files that the library refuses (the CLI must too, in one line).
  const refused = generated.filter((b) => {
    writeFileSync(join(dir, 'probe.csv'), b);
    try {
      readManifest(join(dir, 'probe.csv'));
      return false;
    } catch {
      return true;
    }
  });
  refused.slice(0, CLI_RUNS).forEach((b, i) => {
    cases.push([`fuzzed-${i}.csv`, b]);
  });
  const lines: string[] = [];
  for (const [name, bytes] of cases) {
    const f = join(dir, name);
    if (bytes) writeFileSync(f, bytes);
    else mkdirSync(f, { recursive: true });
    lines.push(assertOneLineFailure((name === 'binary.csv' ? mainCli : cli)('data', 'summary', f), name));
  }
  assert.match(lines[0]!, /^error: manifest .*binary\.csv: missing columns 'path', 'label' \(has: \uFFFDPNG\)$/);
  assert.match(lines[1]!, /empty label for a; b\\x1b\[2J$/);
  assert.equal(lines[2], `error: manifest ${join(dir, 'folder.csv')}: is a folder, not a file`);
  console.log(`CLI data summary: ${cases.length} hostile manifests, each exit 1 with one stderr line`);
});

test(
  'CLI: data build over the adversarial corpus: one line under fail; under skip every hostile file is listed ' +
    'with its reason',
  async () => {
    const corpus = await adversarialCorpus(join(tmpdir(), 'cxrtune-adversarial-v2'));
    const src = join(dir, 'src');
    for (const c of ['normal', 'covid']) mkdirSync(join(src, c), { recursive: true });
    // Honest images: enough patients per class for a split.
    for (let i = 0; i < 4; i++) {
      for (const [c, v] of [
        ['normal', 60],
        ['covid', 190],
      ] as const) {
        writeFileSync(
          join(src, c, `${c}${i}.png`),
          await sharp(new Uint8Array(32 * 32).fill(v + i), { raw: { width: 32, height: 32, channels: 1 } })
            .png()
            .toBuffer(),
        );
      }
    }
    const hostile = corpus.filter((c) => c.expect !== 'ok' && !c.name.includes('magic-only'));
    const ext = (n: string) => (n.startsWith('dicom') ? 'dcm' : n.startsWith('png') ? 'png' : 'jpg');
    for (const c of hostile) writeFileSync(join(src, 'covid', `${c.name}.${ext(c.name)}`), c.bytes);
    // --json: no progress lines on stderr, so the error is the only line.
    const fail = cli('data', 'build', '--source', `folder:${src}`, '--out', join(dir, 'out-fail'), '--json');
    const line = assertOneLineFailure(fail, 'data build (fail)');
    assert.match(line, /^error: .*; use --on-error skip$/);
    const skip = cli(
      'data',
      'build',
      '--source',
      `folder:${src}`,
      '--out',
      join(dir, 'out-skip'),
      '--on-error',
      'skip',
      '--json',
    );
    assert.equal(skip.status, 0, skip.stderr);
    const skipped = readFileSync(join(dir, 'out-skip', 'skipped.csv'), 'utf8');
    for (const c of hostile) assert.ok(skipped.includes(`${c.name}.${ext(c.name)}`), `${c.name} not in skipped.csv`);
    for (const n of ['dicom-header-lie-16000-jpeg', 'png-bomb-16000', 'jpeg-bomb-16000']) {
      assert.match(skipped, new RegExp(`${n}\\.\\w+,[^\\n]*too large`), n);
    }
    assert.doesNotMatch(skipped, /\[object /);
    console.log(`CLI data build: ${hostile.length} hostile files, all listed in skipped.csv; fail mode: one line`);
  },
);
