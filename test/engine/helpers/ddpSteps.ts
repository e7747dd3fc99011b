// A few SGD-momentum steps on fixed synthetic batches, alone (batch 16) or as one rank of a
// c10d group (WORLD_SIZE set: this rank's half of every batch). DDP_BN = frozen | train |
// sync (BatchNorm training with SyncBatchNorm); DDP_PRECISION = fp32 | bf16; DDP_STEPS, DDP_SIZE; DDP_SPLIT
// (rank 0's share of 16). Writes the trainable parameters and the BatchNorm buffers, float32, concatenated in
// name order, to $DDP_OUT/rank<R>.{params,buffers}.bin. Used by test/engine/distributed.test.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../../src/engine/model.js';
import { distEnvFrom, ProcessGroup } from '../../../src/engine/distributed.js';
import { manualSeed, setThreads } from '../../../src/engine/runtime.js';
import type { BatchNormMode, Precision } from '../../../src/engine/types.js';

const STEPS = 3;
const BATCH = 16;
const SIZE = 32;

/** Step s's full batch (16 images size², uint8 grey, labels 0/1): a fixed LCG stream. */
function batchAt(s: number, size = SIZE): { pixels: Uint8Array; labels: Int32Array } {
  let x = ((s + 1) * 2654435761) >>> 0;
  const next = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const pixels = new Uint8Array(BATCH * size * size);
  const labels = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    labels[i] = next() & 1;
    // class 1 brighter, so the gradients are not noise alone
    for (let p = 0; p < size * size; p++) pixels[i * size * size + p] = ((next() >>> 24) % 192) + labels[i]! * 63;
  }
  return { pixels, labels };
}

function reverseBatch(b: { pixels: Uint8Array; labels: Int32Array }, size: number) {
  const n = size * size;
  const pixels = new Uint8Array(b.pixels.length);
  for (let i = 0; i < BATCH; i++) pixels.set(b.pixels.subarray(i * n, (i + 1) * n), (BATCH - 1 - i) * n);
  return { pixels, labels: b.labels.slice().reverse() };
}

/** 'sync': BatchNorm training, with SyncBatchNorm in a group (alone it is plain 'train'). */
type DdpBn = BatchNormMode | 'sync';

interface StepsOptions {
  precision?: Precision;
  steps?: number;
  /** Image side (default SIZE). */
  size?: number;
  /** Two ranks: rank 0 takes this many of the 16 images, rank 1 the rest (default 8). */
  split?: number;
  /** Reverse the order of the 16 images of every batch (labels with them): the same sums in exact
   *  arithmetic, another summation order in fp32 — the computation's own rounding floor. */
  reversed?: boolean;
}

/** Parameters and float buffers (BatchNorm running statistics) after the steps, each flat in name order. */
export async function runSteps(
  bn: DdpBn,
  group?: ProcessGroup,
  o: StepsOptions = {},
): Promise<{ params: Float32Array; buffers: Float32Array }> {
  const { precision = 'fp32', steps = STEPS, size = SIZE, split, reversed = false } = o;
  manualSeed(7);
  const model = await Model.create({ arch: 'resnet18', numClasses: 2 });
  if (group) {
    await group.broadcastModel(model);
    await group.setGradSync(true);
    if (bn === 'sync') await group.setSyncBatchNorm(true);
  }
  const params = model.parameters();
  model.configureOptimizer({ kind: 'sgd', groups: [params.flatMap((p, i) => (p.kind === 'param' ? [i] : []))] });
  model.setBatchNormMode(bn === 'sync' ? 'train' : bn);
  const world = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  const from = split !== undefined && world === 2 ? [0, split][rank]! : rank * (BATCH / world);
  const to = split !== undefined && world === 2 ? [split, BATCH][rank]! : (rank + 1) * (BATCH / world);
  for (let s = 0; s < steps; s++) {
    const b = reversed ? reverseBatch(batchAt(s, size), size) : batchAt(s, size);
    const px = b.pixels.slice(from * size * size, to * size * size);
    await model.trainStep(
      { pixels: px, shape: [to - from, size, size, 1], labels: b.labels.slice(from, to) },
      [{ lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }],
      { precision },
    );
  }
  const state = await model.state();
  const kind = new Map(params.map((p) => [p.name, p.kind]));
  const flat = (k: 'param' | 'buffer') => {
    const names = [...state.keys()].filter((n) => kind.get(n) === k && state.get(n)!.dtype === 'F32').sort();
    const out = new Float32Array(names.reduce((a, n) => a + state.get(n)!.data.byteLength / 4, 0));
    let off = 0;
    for (const n of names) {
      const d = state.get(n)!.data;
      out.set(new Float32Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)), off);
      off += d.byteLength / 4;
    }
    return out;
  };
  return { params: flat('param'), buffers: flat('buffer') };
}

if (process.env.DDP_OUT) {
  setThreads(1);
  const env = distEnvFrom();
  const group = env ? await ProcessGroup.init({ ...env, timeoutMs: 30_000 }) : undefined;
  const e = process.env;
  const w = await runSteps((e.DDP_BN ?? 'frozen') as DdpBn, group, {
    precision: (e.DDP_PRECISION ?? 'fp32') as Precision,
    steps: Number(e.DDP_STEPS ?? STEPS),
    size: Number(e.DDP_SIZE ?? SIZE),
    ...(e.DDP_SPLIT ? { split: Number(e.DDP_SPLIT) } : {}),
  });
  writeFileSync(join(process.env.DDP_OUT, `rank${group?.rank ?? 0}.params.bin`), w.params);
  writeFileSync(join(process.env.DDP_OUT, `rank${group?.rank ?? 0}.buffers.bin`), w.buffers);
  await group?.barrier();
}
