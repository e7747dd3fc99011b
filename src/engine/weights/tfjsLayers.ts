// TensorFlow.js layers models (model.json + binary shards, as tensorflowjs_converter writes
// Keras models): the topology, and the weights as host tensors under their Keras names
// ('res2a_branch2a/kernel'). Weights are concatenated across the shards in manifest order;
// float32/int32 and the converter's quantised forms (uint8/uint16 affine, float16) are read.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { HostTensor, TensorMap } from '../types.js';
import { f16BitsToF32 } from '../dtype.js';

interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

export interface TfjsLayersModel {
  file: string;
  kerasVersion: string;
  layers: KerasLayer[];
  /** Keras names ('layer/kernel') → tensors; absent when only the topology was asked for. */
  weights?: TensorMap;
  specs: WeightSpec[];
}

/** Whether a .json file is a TF.js layers model (cheap: it is read as JSON once). */
export function isTfjsLayersModel(file: string): boolean {
  if (!file.endsWith('.json') || !existsSync(file)) return false;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as {
      format?: string;
      modelTopology?: unknown;
      weightsManifest?: unknown;
    };
    return (j.format === 'layers-model' || !!j.modelTopology) && Array.isArray(j.weightsManifest);
  } catch {
    return false;
  }
}

export async function readTfjsLayersModel(file: string, opts: { data?: boolean } = {}): Promise<TfjsLayersModel> {
  const j = JSON.parse(await readFile(file, 'utf8')) as {
    modelTopology: { keras_version?: string; model_config?: { config?: { layers?: KerasLayer[] } } };
    weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
  };
  const layers = j.modelTopology?.model_config?.config?.layers;
  if (!Array.isArray(layers)) throw new Error(`${file}: a TF.js model without a Keras functional topology`);
  const specs = j.weightsManifest.flatMap((g) => g.weights);
  const out: TfjsLayersModel = { file, kerasVersion: j.modelTopology.keras_version ?? '?', layers, specs };
  if (opts.data === false) return out;
  const weights: TensorMap = new Map();
  for (const group of j.weightsManifest) {
    const parts = await Promise.all(
      group.paths.map(async (p) => {
        const f = join(dirname(file), p);
        if (!existsSync(f)) throw new Error(`${file}: weight shard ${p} is missing`);
        return readFile(f);
      }),
    );
    const buf = Buffer.concat(parts);
    let off = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const bytes = q ? n * (q.dtype === 'uint8' ? 1 : 2) : n * 4;
      if (off + bytes > buf.length) throw new Error(`${file}: the shards end before weight ${w.name}`);
      const src = buf.subarray(off, off + bytes);
      off += bytes;
      const name = w.name.replace(/:\d+$/, '');
      weights.set(name, decode(src, n, w, q));
    }
    if (off !== buf.length)
      throw new Error(`${file}: the shards hold ${buf.length - off} bytes more than the manifest describes`);
  }
  out.weights = weights;
  return out;
}

function decode(src: Buffer, n: number, w: WeightSpec, q: WeightSpec['quantization']): HostTensor {
  if (!q) {
    return { dtype: w.dtype === 'int32' ? 'I32' : 'F32', shape: [...w.shape], data: new Uint8Array(src) };
  }
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (q.dtype === 'float16') f[i] = f16BitsToF32(src.readUInt16LE(i * 2));
    else f[i] = (q.dtype === 'uint8' ? src[i]! : src.readUInt16LE(i * 2)) * (q.scale ?? 1) + (q.min ?? 0);
  }
  return { dtype: 'F32', shape: [...w.shape], data: new Uint8Array(f.buffer) };
}
