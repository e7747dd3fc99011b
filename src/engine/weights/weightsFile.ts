// One entry point for the weights users have: safetensors (cxrtune's, timm's on the Hugging
// Face hub), torch.save zip checkpoints (.pth/.pt/.bin/.ckpt/.tar, read safely), a folder
// holding one (a hub snapshot or a `cxrtune weights import` output), or a hub id
// ('timm/resnet50.tv_in1k') found in the local hub cache. Names come out torchvision's
// (DataParallel prefix, legacy DenseNet names and timm heads mapped), with metadata
// (arch, mean/std, input size) from the file, its timm config.json, or recognised from the names.
import { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { HostTensor, Normalisation, TensorMap } from '../types.js';
import { readSafetensors } from '../safetensors.js';
import { legacyFormatError, sniffWeights } from './torchZip.js';
import { readTorchStateDict } from './torchStateDict.js';
import { normaliseName } from './names.js';
import { readTimmConfig, timmArch, timmMetadata, timmToTorchvision } from './timm.js';
import { archFromFileName, archFromNames } from './archOf.js';
import { HUB_ID, hubRepoDir, hubSnapshot } from './caches.js';
import { isTfjsLayersModel, readTfjsLayersModel } from './tfjsLayers.js';
import { isKerasResnet, kerasResnetMetadata, kerasResnetToTorchvision } from './kerasResnet.js';

type WeightsFormat = 'safetensors' | 'torch' | 'tfjs';

interface WeightsInfo {
  file: string;
  format: WeightsFormat;
  /** arch (when known), mean/std (JSON), input_size, num_classes, source, layout … */
  metadata: Record<string, string>;
  /** torchvision-normalised name → dtype and shape. */
  entries: Map<string, { dtype: HostTensor['dtype']; shape: number[] }>;
  /** What was renamed or skipped, for the log. */
  notes: string[];
}

interface Weights extends WeightsInfo {
  tensors: TensorMap;
}

const TORCH_EXT = /\.(pth|pt|bin|ckpt|tar|pkl)$/i;
const TFJS_SHARD = /^group\d+-shard\d+of\d+(\.bin)?$/;

/** A --pretrained argument made absolute when it is a path; a hub id stays as it is. */
/** The input normalisation a weights file records in its metadata (mean/std as JSON triples), if any. */
export function metadataNormalisation(meta: Record<string, string>): Normalisation | undefined {
  const triple = (s: string | undefined): [number, number, number] | null => {
    try {
      const v = JSON.parse(s ?? 'null') as unknown;
      return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x))
        ? (v as [number, number, number])
        : null;
    } catch {
      return null;
    }
  };
  const mean = triple(meta.mean);
  const std = triple(meta.std);
  return mean && std ? { mean, std } : undefined;
}

export function weightsRef(source: string): string {
  return existsSync(source) || !HUB_ID.test(source) ? resolve(source) : source;
}

/** Finds the weights file: the file itself, a folder's model file, or a hub id in the local hub cache. */
export function resolveWeightsFile(source: string): string {
  if (!existsSync(source)) {
    if (HUB_ID.test(source) && !source.startsWith('.')) {
      const snap = hubSnapshot(source);
      if (snap) return resolveWeightsFile(snap);
      throw new Error(
        `pretrained weights not found: ${source} is neither a file nor in the Hugging Face cache ` +
          `(${hubRepoDir(source)}); fetch it with: cxrtune weights pull ${source}`,
      );
    }
    throw new Error(`pretrained weights not found: ${source}`);
  }
  if (statSync(source).isFile()) return source;
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() && depth < 4 && !e.name.startsWith('.')) walk(p, depth + 1);
      else if (
        e.name.endsWith('.safetensors') ||
        (TORCH_EXT.test(e.name) && !TFJS_SHARD.test(e.name)) ||
        (e.name === 'model.json' && isTfjsLayersModel(p))
      )
        found.push(p);
    }
  };
  walk(source, 0);
  // model.safetensors first, then any safetensors, then torch files (pytorch_model.bin …).
  const rank = (p: string) =>
    p.endsWith('model.safetensors') ? 0 : p.endsWith('.safetensors') ? 1 : p.endsWith('.json') ? 3 : 2;
  found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (!found.length) throw new Error(`no weights file (.safetensors, .pth, .bin, a TF.js model.json) in ${source}`);
  return found[0]!;
}

function formatOf(file: string): WeightsFormat {
  if (file.endsWith('.json')) {
    if (isTfjsLayersModel(file)) return 'tfjs';
    throw new Error(`${file} is JSON but not a TensorFlow.js layers model`);
  }
  const head = new Uint8Array(512);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  const kind = sniffWeights(head);
  if (kind === 'zip') return 'torch';
  if (kind === 'torch-legacy' || kind === 'tar' || kind === 'pickle') throw legacyFormatError(file, kind);
  if (kind === 'safetensors' || file.endsWith('.safetensors')) return 'safetensors';
  throw new Error(`${file} is neither safetensors nor a PyTorch checkpoint`);
}

/** Reads only a safetensors header: names, dtypes, shapes, metadata. */
function safetensorsHeader(file: string): { entries: WeightsInfo['entries']; metadata: Record<string, string> } {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (n < 2 || n > 100 * 1024 * 1024 || n + 8 > statSync(file).size)
      throw new Error(`${file} is not a safetensors file or is truncated`);
    const h = Buffer.alloc(n);
    readSync(fd, h, 0, n, 8);
    const header = JSON.parse(h.toString('utf8')) as Record<
      string,
      { dtype: HostTensor['dtype']; shape: number[] } | Record<string, string>
    >;
    const entries: WeightsInfo['entries'] = new Map();
    let metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') metadata = v as Record<string, string>;
      else
        entries.set(k, { dtype: (v as { dtype: HostTensor['dtype'] }).dtype, shape: (v as { shape: number[] }).shape });
    }
    return { entries, metadata };
  } finally {
    closeSync(fd);
  }
}

function normalise<T>(m: Map<string, T>, rename: (k: string) => string, notes: string[]): Map<string, T> {
  const out = new Map<string, T>();
  let renamed = 0;
  for (const [k, v] of m) {
    const n = rename(k);
    if (n !== k) renamed++;
    out.set(n, v);
  }
  if (renamed) notes.push(`${renamed} names mapped to torchvision's`);
  return out;
}

async function load(source: string, data: boolean): Promise<WeightsInfo & { tensors?: TensorMap }> {
  const file = resolveWeightsFile(source);
  const format = formatOf(file);
  const notes: string[] = [];
  let metadata: Record<string, string> = {};
  let entries: WeightsInfo['entries'];
  let tensors: TensorMap | undefined;
  if (format === 'tfjs') {
    const tf = await readTfjsLayersModel(file, { data });
    if (!isKerasResnet(tf))
      throw new Error(
        `${file}: of TensorFlow.js models cxrtune reads Keras' ResNet-50/101/152 (keras.applications names)`,
      );
    if (data) {
      const k = kerasResnetToTorchvision(tf);
      tensors = k.tensors;
      metadata = k.metadata;
      entries = new Map([...tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape }]));
    } else {
      // The topology only: enough for list and arch recognition, without reading 100 MB of shards.
      metadata = kerasResnetMetadata(tf);
      entries = new Map();
    }
    notes.push(
      'Keras ResNet v1 converted: conv biases folded into BatchNorm, eps adjusted, BGR input folded into conv1',
    );
  } else if (format === 'torch') {
    const sd = await readTorchStateDict(file, { data });
    entries = sd.entries;
    tensors = sd.tensors;
    if (sd.path)
      notes.push(`state dict under '${sd.path}' (also in the file: ${sd.otherKeys.join(', ') || 'nothing else'})`);
    metadata = { format: 'pt', layout: 'torch.save state_dict', source: basename(file) };
  } else if (data) {
    ({ tensors, metadata } = await readSafetensors(file));
    entries = new Map([...tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape }]));
  } else {
    ({ entries, metadata } = safetensorsHeader(file));
  }
  const timm = readTimmConfig(file);
  if (timm) {
    const arch = timmArch(timm);
    if (!arch)
      throw new Error(
        `${file}: timm architecture '${timm.architecture}' has no torchvision counterpart in cxrtune ` +
          `(ResNet-18…152, DenseNet-121…201)`,
      );
    metadata = { ...metadata, ...timmMetadata(timm) };
  }
  const arch = timm ? timmArch(timm)! : null;
  const rename = (k: string) => {
    const n = normaliseName(k);
    return arch ? timmToTorchvision(arch, n, timm!.pretrained_cfg?.classifier) : n;
  };
  entries = normalise(entries, rename, notes);
  if (tensors) tensors = new Map([...tensors].map(([k, t]) => [rename(k), t]));
  if (!metadata.arch) {
    const a = archFromNames(entries.keys()) ?? archFromFileName(file);
    if (a) metadata.arch = a;
  }
  return { file, format, metadata, entries, notes, ...(tensors ? { tensors } : {}) };
}

/** Names, shapes and metadata without reading the tensors (a torch file's data.pkl only). */
export function weightsInfo(source: string): Promise<WeightsInfo> {
  return load(source, false);
}

export async function readWeights(source: string): Promise<Weights> {
  const w = await load(source, true);
  return w as Weights;
}
