// A few SGD-momentum steps on fixed synthetic batches, alone (batch 16) or as one rank of a
// c10d group (WORLD_SIZE set: this rank's half of every batch). Writes the trainable
// parameters and the BatchNorm buffers, float32, concatenated in name order, to
// $DDP_OUT/rank<R>.{params,buffers}.bin. Used by test/engine/distributed.test.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../../src/engine/model.js';
import { distEnvFrom, ProcessGroup } from '../../../src/engine/distributed.js';
import { manualSeed, setThreads } from '../../../src/engine/runtime.js';
import type { BatchNormMode } from '../../../src/engine/types.js';

export const STEPS = 3;
export const BATCH = 16;
export const SIZE = 32;

/** Step s's full batch (16 images, uint8 grey, labels 0/1): a fixed LCG stream. */
export function batchAt(s: number): { pixels: Uint8Array; labels: Int32Array } {
  let x = (s + 1) * 2654435761 >>> 0;
  const next = () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const pixels = new Uint8Array(BATCH * SIZE * SIZE);
  const labels = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    labels[i] = next() & 1;
    // class 1 brighter, so the gradients are not noise alone
    for (let p = 0; p < SIZE * SIZE; p++) pixels[i * SIZE * SIZE + p] = (next() >>> 24) % 192 + labels[i]! * 63;
  }
  return { pixels, labels };
}

/** Parameters and float buffers (BatchNorm running statistics) after the steps, each flat in name order. */
export async function runSteps(bn: BatchNormMode, group?: ProcessGroup): Promise<{ params: Float32Array; buffers: Float32Array }> {
  manualSeed(7);
  const model = await Model.create({ arch: 'resnet18', numClasses: 2 });
  if (group) {
    await group.broadcastModel(model);
    await group.setGradSync(true);
  }
  const params = model.parameters();
  model.configureOptimizer({ kind: 'sgd', groups: [params.flatMap((p, i) => (p.kind === 'param' ? [i] : []))] });
  model.setBatchNormMode(bn);
  const world = group?.worldSize ?? 1;
  const rank = group?.rank ?? 0;
  const per = BATCH / world;
  for (let s = 0; s < STEPS; s++) {
    const b = batchAt(s);
    const px = b.pixels.slice(rank * per * SIZE * SIZE, (rank + 1) * per * SIZE * SIZE);
    await model.trainStep(
      { pixels: px, shape: [per, SIZE, SIZE, 1], labels: b.labels.slice(rank * per, (rank + 1) * per) },
      [{ lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }],
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
  const w = await runSteps((process.env.DDP_BN ?? 'frozen') as BatchNormMode, group);
  writeFileSync(join(process.env.DDP_OUT, `rank${group?.rank ?? 0}.params.bin`), w.params);
  writeFileSync(join(process.env.DDP_OUT, `rank${group?.rank ?? 0}.buffers.bin`), w.buffers);
  await group?.barrier();
}
