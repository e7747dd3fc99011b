// `cxrtune train` / `cxrtune lr-find` through commander: options reach the run, --json
// prints the summary, user mistakes end in one line and exit code 1.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePhantoms } from '../../src/data/phantom.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-cli-'));
let manifest = '';
before(async () => {
  manifest = (await writePhantoms({ n: 24, size: 64, seed: 5, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
});

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'cliEntry.ts');

/** Runs the command in a child process (stdout/stderr/exit code exactly as a user sees them). */
function run(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', ENTRY, ...args], { maxBuffer: 1 << 24 }, (e, out, err) => {
      res({ out, err, code: e ? Number((e as { code?: number }).code ?? 1) : 0 });
    });
  });
}

test('train --preset traditional with flags overriding, --json summary, config.json reruns it', async () => {
  const out = join(dir, 'run1');
  const r = await run(
    'train',
    '--manifest',
    manifest,
    '--arch',
    'resnet18',
    '--preset',
    'traditional',
    '--epochs',
    '2',
    '--size',
    '64',
    '--batch',
    '8',
    '--threads',
    '2',
    '--out',
    out,
    '--json',
    '--quiet',
    '--class-weights',
    'auto',
    '--monitor',
    'valid_auc',
  );
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.status, 'completed');
  assert.equal(s.epochsDone, 2);
  assert.equal(s.schedule.kind, 'constant');
  assert.equal(s.schedule.lrMax, 1e-3);
  assert.equal(s.schedule.momMax, 0.99);
  assert.equal(s.groups, 6);
  const conf = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(
    [conf.preset, conf.transfer.discriminative, conf.schedule.epochs, conf.data.classWeights, conf.validation.monitor],
    ['traditional', false, 2, 'auto', 'valid_auc'],
  );
  // Rerun from config.json into another folder.
  const r2 = await run(
    'train',
    '--config',
    join(out, 'config.json'),
    '--out',
    join(dir, 'run2'),
    '--epochs',
    '1',
    '--json',
    '--quiet',
  );
  assert.equal(r2.code, 0, r2.err);
  assert.equal(JSON.parse(r2.out).epochsDone, 1);
});

test('user mistakes: one line, exit code 1, no stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['train', '--arch', 'resnet18', '--out', join(dir, 'x')], /^error: invalid manifest/],
    [
      ['train', '--manifest', join(dir, 'nope.csv'), '--arch', 'resnet18', '--out', join(dir, 'x')],
      /^error: manifest not found/,
    ],
    [
      ['train', '--manifest', manifest, '--arch', 'resnet18', '--out', join(dir, 'x'), '--precision', 'fp16'],
      /^error: invalid precision: fp16 needs a CUDA device/,
    ],
    [
      [
        'train',
        '--manifest',
        manifest,
        '--arch',
        'resnet18',
        '--out',
        join(dir, 'x'),
        '--config',
        join(dir, 'missing.json'),
      ],
      /^error: config file not found/,
    ],
    [
      ['train', '--resume', join(dir, 'run1'), '--epochs', '3'],
      /^error: --resume continues a run with its own config.json; drop --epochs/,
    ],
    [['train', '--resume', join(dir, 'nothing')], /^error: .* is not a cxrtune run folder/],
    [['lr-find', '--manifest', manifest, '--out', join(dir, 'lr')], /^error: --arch is required/],
    [
      ['train', '--manifest', manifest, '--arch', 'resnet18', '--out', join(dir, 'x'), '--aug', 'robsut'],
      /^error: invalid aug: 'robsut' is not one of none, online, robust, online\+robust/,
    ],
    [
      ['lr-find', '--manifest', manifest, '--arch', 'resnet18', '--out', join(dir, 'lr'), '--aug', 'robsut'],
      /^error: invalid aug: 'robsut'/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await run(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  }
  const bad = await run('train', '--lr-max', 'fast');
  assert.match(bad.err, /'fast' is not a number/);
});

test('--help lists the options', async () => {
  const r = await run('train', '--help');
  for (const flag of [
    '--manifest',
    '--arch',
    '--pretrained',
    '--schedule',
    '--lr-min',
    '--lr-max',
    '--mom-min',
    '--mom-max',
    '--pct',
    '--groups',
    '--spacing',
    '--optimizer',
    '--wd',
    '--mode',
    '--epochs',
    '--batch',
    '--size',
    '--precision',
    '--aug',
    '--seed',
    '--out',
    '--config',
    '--preset',
    '--resume',
    '--monitor',
    '--patience',
    '--class-weights',
    '--balanced',
    '--json',
  ])
    assert.ok(r.out.includes(flag), flag);
});

test('lr-find --json', async () => {
  const r = await run(
    'lr-find',
    '--manifest',
    manifest,
    '--arch',
    'resnet18',
    '--size',
    '64',
    '--batch',
    '8',
    '--iterations',
    '10',
    '--threads',
    '2',
    '--out',
    join(dir, 'lr'),
    '--json',
    '--quiet',
  );
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.lrs.length > 0, true);
  assert.match(j.files.svg, /lr_find\.svg$/);
});
