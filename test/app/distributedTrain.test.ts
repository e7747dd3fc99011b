// `cxrtune train --nproc 2` end to end on phantoms: two c10d workers, rank 0 writes the run
// folder; killing rank 1 while rank 0 waits for it in a step makes rank 0 fail naming it;
// --resume finishes the run.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writePhantoms } from '../../src/data/phantom.js';
import { waitFor } from '../helpers/waitFor.js';

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-ddp-cli-'));
const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'cliEntry.ts');
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
let manifest = '';
before(async () => {
  manifest = (await writePhantoms({ n: 48, size: 64, seed: 3, out: join(dir, 'data'), sheetSize: 0 })).manifestFile;
});

function start(args: string[], entry = ENTRY, env: NodeJS.ProcessEnv = {}) {
  const c = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  c.stdout.on('data', (d) => (out += d));
  c.stderr.on('data', (d) => (err += d));
  const done = new Promise<{ code: number; out: string; err: string }>((res) =>
    c.on('exit', (code) => res({ code: code ?? 1, out, err })),
  );
  return { child: c, done };
}

test(
  'train --nproc 2: a worker killed while the other waits for it stops the other naming its rank; ' +
    '--resume finishes the run',
  async () => {
    const out = join(dir, 'run');
    const args = [
      'train',
      '--manifest',
      manifest,
      '--arch',
      'resnet18',
      '--size',
      '32',
      '--batch',
      '6',
      '--epochs',
      '3',
      '--lr-min',
      '1e-4',
      '--lr-max',
      '3e-3',
      '--seed',
      '1',
      '--out',
      out,
      '--quiet',
      '--json',
    ];
    // Rank 1 holds after epoch 1 (cliEntry.ts), so it is killed at a known point however fast the
    // machine: rank 0 has written epoch 1 and waits for rank 1 in epoch 2's first step.
    const held = join(dir, 'rank1-held');
    const run = start([...args, '--nproc', '2'], ENTRY, { HOLD_RANK1_FILE: held });
    const history = join(out, 'history.json');
    await waitFor(
      () => run.child.exitCode !== null || (existsSync(held) && existsSync(history)),
      'rank 1 to hold after epoch 1',
    );
    if (run.child.exitCode !== null) assert.fail(`the run ended before rank 1 held: ${(await run.done).err}`);
    process.kill(Number(readFileSync(held, 'utf8')), 'SIGKILL');
    const r = await run.done;
    assert.notEqual(r.code, 0);
    assert.match(r.err, /error: distributed .* failed on rank 0 of 2: rank 1 stopped/);
    assert.match(r.err, /launcher: worker rank 1 \(pid \d+\) killed by SIGKILL/);
    // Rank 0 stopped on its own, its collective failing: the launcher never had to end it after its grace.
    assert.match(r.err, /launcher: worker rank 0 \(pid \d+\) exited with code 1/);
    assert.doesNotMatch(r.err, /still running .* ending it/);
    const h = JSON.parse(readFileSync(history, 'utf8'));
    assert.equal(h.length, 1, 'the run stopped after epoch 1');

    const resumed = await start(['train', '--resume', out, '--nproc', '2', '--json', '--quiet']).done;
    assert.equal(resumed.code, 0, resumed.err);
    const s = JSON.parse(resumed.out); // one summary: rank 0's
    assert.equal(s.status, 'completed');
    assert.equal(s.epochsDone, 3);
    assert.equal(s.lastValid.n, 14, 'validation over the whole valid split (14 rows), gathered from both ranks');
    const hist = JSON.parse(readFileSync(history, 'utf8'));
    assert.deepEqual(
      hist.map((e: { epoch: number }) => e.epoch),
      [0, 1, 2],
    );
    // Each rank served ceil(34/2) = 17 images per epoch in 3 steps of ≤ 6.
    assert.equal(hist[2].step, 9);

    // evaluate --nproc 2: each rank predicts every other row; rank 0 writes the same predictions, in manifest order.
    const ev = (o: string, ...extra: string[]) =>
      start(
        [
          'evaluate',
          '--model',
          out,
          '--manifest',
          manifest,
          '--split',
          'valid',
          '--out',
          join(dir, o),
          '--bootstrap',
          '100',
          '--quiet',
          ...extra,
        ],
        MAIN,
      ).done;
    const [e1, e2] = [await ev('ev1'), await ev('ev2', '--nproc', '2')];
    assert.equal(e1.code, 0, e1.err);
    assert.equal(e2.code, 0, e2.err);
    assert.equal((e2.out.match(/images \(/g) ?? []).length, 1, "one report: rank 0's");
    const cols = (f: string) =>
      readFileSync(join(dir, f, 'predictions.csv'), 'utf8')
        .split('\n')
        .map((l) => l.split(',').slice(0, 7).join(','));
    assert.deepEqual(cols('ev2'), cols('ev1'));
    const m = (f: string) => JSON.parse(readFileSync(join(dir, f, 'metrics.json'), 'utf8')).metrics;
    assert.equal(m('ev2').n, 14);
    assert.deepEqual(m('ev2').auc, m('ev1').auc);
  },
);

test('train --nproc / --backend mistakes: one line, exit code 1', async () => {
  const base = ['train', '--manifest', manifest, '--arch', 'resnet18', '--out', join(dir, 'x')];
  const a = await start([...base, '--nproc', '0']).done;
  assert.equal(a.code, 1);
  assert.match(a.err, /^error: --nproc must be at least 1 \(got 0\)\n$/);
  const b = await start([...base, '--nproc', '2', '--backend', 'nccl']).done;
  assert.equal(b.code, 1);
  assert.match(
    b.err,
    new RegExp(
      /^error: option '--backend <b>' argument 'nccl' is invalid\. /.source +
        /--backend nccl needs ProcessGroupNCCL from a CUDA libtorch/.source,
    ),
  );
});

test(
  'train --nproc 2 --sync-bn: recorded in config.json and model.json; with one process a note says it has no ' +
    'effect',
  async () => {
    const base = [
      'train',
      '--manifest',
      manifest,
      '--arch',
      'resnet18',
      '--size',
      '32',
      '--batch',
      '6',
      '--epochs',
      '1',
      '--seed',
      '1',
      '--sync-bn',
      '--json',
    ];
    const two = await start([...base, '--out', join(dir, 'sync'), '--nproc', '2', '--quiet']).done;
    assert.equal(two.code, 0, two.err);
    assert.equal(JSON.parse(two.out).status, 'completed');
    assert.doesNotMatch(two.err, /no effect/);
    const meta = JSON.parse(readFileSync(join(dir, 'sync', 'checkpoints', 'last', 'model.json'), 'utf8'));
    assert.equal(meta.training.config.distributed.syncBn, true);
    assert.equal(JSON.parse(readFileSync(join(dir, 'sync', 'config.json'), 'utf8')).distributed.syncBn, true);

    const one = await start([...base, '--out', join(dir, 'sync1')]).done;
    assert.equal(one.code, 0, one.err);
    assert.match(one.err, /--sync-bn has no effect with one process/);
  },
);
