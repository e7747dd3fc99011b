// A crash during a checkpoint write leaves `last.tmp-PID/` and `.file.PID.N.tmp`: the next
// start, resume or save removes those of dead processes and keeps a live writer's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, removeStaleTemps } from '../../src/util/atomicWrite.js';
import { Model } from '../../src/engine/model.js';
import { removeStaleRunTemps, RUN_FILES, saveResumable } from '../../src/app/train/runFolder.js';

/** The id of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  assert.ok(!pidAlive(pid), `pid ${pid} still alive`);
  return pid;
}

function leftovers(runDir: string, dead: number, live: number): Record<string, string> {
  const ck = join(runDir, 'checkpoints');
  const paths = {
    deadDir: join(ck, `last.tmp-${dead}`),
    liveDir: join(ck, `best.tmp-${live}`),
    deadFile: join(runDir, `.history.json.${dead}.3.tmp`),
    liveFile: join(runDir, `.history.json.${live}.0.tmp`),
    deadInCk: join(ck, `.model.json.${dead}.1.tmp`),
  };
  for (const d of [paths.deadDir, paths.liveDir]) {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'model.safetensors'), 'half-written');
  }
  for (const f of [paths.deadFile, paths.liveFile, paths.deadInCk]) writeFileSync(f, 'partial');
  // Never touched: the complete checkpoint's fallback and ordinary files.
  mkdirSync(join(ck, 'last.old'), { recursive: true });
  writeFileSync(join(runDir, 'history.json'), '[]');
  return paths;
}

// A live writer: it runs until killed (a fixed lifetime would let a slow test outlive it), and
// leaves if orphaned, so a failed test leaks no process.
const liveWriter = () =>
  spawn(
    process.execPath,
    ['-e', 'const p = process.ppid; setInterval(() => { if (process.ppid !== p) process.exit(); }, 500);'],
    { stdio: 'ignore' },
  );

test('removeStaleRunTemps: dead writers’ temp folders and files go, a live writer’s stay, .old stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-stale-'));
  const sleeper = liveWriter();
  try {
    const p = leftovers(dir, deadPid(), sleeper.pid!);
    const removed = (await removeStaleRunTemps(dir)).sort();
    assert.deepEqual(removed, [p.deadFile, p.deadDir, p.deadInCk].sort());
    for (const k of ['liveDir', 'liveFile'] as const) assert.ok(existsSync(p[k]), k);
    assert.ok(existsSync(join(dir, 'checkpoints', 'last.old')));
    assert.ok(existsSync(join(dir, 'history.json')));
    assert.deepEqual(await removeStaleTemps(join(dir, 'missing')), []);
  } finally {
    sleeper.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('saving a checkpoint cleans the dead writer’s last.tmp-PID/ beside it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-stale-save-'));
  const sleeper = liveWriter();
  try {
    const p = leftovers(dir, deadPid(), sleeper.pid!);
    const model = await Model.create({ arch: 'mobilenet_v2', numClasses: 2 });
    await saveResumable(
      join(dir, RUN_FILES.last),
      model,
      {
        classes: ['normal', 'covid'],
        positiveClass: 1,
        preprocessing: { size: 64, fit: 'letterbox', equalize: 'none', channels: 1 },
        threshold: 0.5,
      },
      null,
    );
    const ck = readdirSync(join(dir, 'checkpoints')).sort();
    assert.deepEqual(ck, [`best.tmp-${sleeper.pid}`, 'last']);
    assert.ok(existsSync(join(dir, RUN_FILES.last, 'model.json')));
    assert.ok(!existsSync(p.deadDir) && !existsSync(p.deadInCk));
  } finally {
    sleeper.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
