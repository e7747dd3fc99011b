// Loads ImageNet (or any) weights in torchvision/timm naming from a local
// safetensors file or a Hugging Face cache folder, checking names and shapes
// strictly. Only the classifier may differ (a head of another size is left
// freshly initialised, with a message); anything else is an error listing it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from './safetensors.js';
import type { Model } from './model.js';
import type { TensorMap } from './types.js';

export interface PretrainedReport {
  file: string;
  loaded: number;
  /** Head parameters left at their fresh initialisation (size differs). */
  reinitialised: string[];
  metadata: Record<string, string>;
}

/** Finds the weights file: the file itself, or the first model*.safetensors under a folder (HF cache layout). */
export function resolveWeightsFile(source: string): string {
  if (!existsSync(source)) throw new Error(`pretrained weights not found: ${source}`);
  if (statSync(source).isFile()) {
    if (/\.(pth|pt|bin|ckpt)$/i.test(source)) {
      throw new Error(`${source}: PyTorch pickle files are not read (unsafe); convert to safetensors, e.g. safetensors.torch.save_file(torch.load(f), 'model.safetensors')`);
    }
    return source;
  }
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() && depth < 4 && !e.name.startsWith('.')) walk(p, depth + 1);
      else if (e.name.endsWith('.safetensors')) found.push(p);
    }
  };
  walk(source, 0);
  found.sort((a, b) => Number(!a.endsWith('model.safetensors')) - Number(!b.endsWith('model.safetensors')) || a.localeCompare(b));
  if (!found.length) throw new Error(`no .safetensors file in ${source}`);
  return found[0]!;
}

/** torchvision's own renames for old checkpoints, plus DataParallel's 'module.' prefix. */
export function normaliseNames(t: TensorMap): TensorMap {
  const out: TensorMap = new Map();
  const dense = /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;
  for (const [k0, v] of t) {
    let k = k0.startsWith('module.') ? k0.slice(7) : k0;
    const m = dense.exec(k);
    if (m) k = m[1]! + m[2]!;
    out.set(k, v);
  }
  return out;
}

export async function loadPretrained(model: Model, source: string, log: (msg: string) => void = (m) => console.error(m)): Promise<PretrainedReport> {
  const file = resolveWeightsFile(source);
  const { tensors: raw, metadata } = await readSafetensors(file);
  const tensors = normaliseNames(raw);
  const entries = model.parameters();
  const byName = new Map(entries.map((e) => [e.name, e]));
  const headParams = new Set(model.layers().filter((l) => l.stage === 'head').flatMap((l) => l.params.map((i) => entries[i]!.name)));

  const unexpected = [...tensors.keys()].filter((k) => !byName.has(k));
  const wrongShape: string[] = [];
  const reinitialised: string[] = [];
  const use: TensorMap = new Map();
  for (const [k, t] of tensors) {
    const e = byName.get(k);
    if (!e) continue;
    if (e.shape.length === t.shape.length && e.shape.every((d, i) => d === t.shape[i])) use.set(k, t);
    else if (headParams.has(k)) reinitialised.push(k);
    else wrongShape.push(`${k} [${t.shape}] vs [${e.shape}]`);
  }
  // Old torchvision checkpoints predate BatchNorm's num_batches_tracked counter.
  const missing = entries.filter((e) => !tensors.has(e.name) && !e.name.endsWith('num_batches_tracked')).map((e) => e.name);
  const problems = [
    missing.length ? `missing ${missing.length}: ${preview(missing)}` : '',
    unexpected.length ? `unexpected ${unexpected.length}: ${preview(unexpected)}` : '',
    wrongShape.length ? `wrong shape: ${preview(wrongShape)}` : '',
  ].filter(Boolean);
  if (problems.length) {
    throw new Error(`${file} does not fit ${model.spec.arch} (torchvision naming expected): ${problems.join('; ')}`);
  }
  await model.loadState(use, { strict: false });
  if (reinitialised.length) {
    const t = tensors.get(reinitialised[0]!)!;
    log(`pretrained: head ${reinitialised.join(', ')} re-initialised (${t.shape[0]} → ${model.spec.numClasses} classes)`);
  }
  return { file, loaded: use.size, reinitialised, metadata };
}

function preview(xs: string[]): string {
  return xs.length > 6 ? `${xs.slice(0, 6).join(', ')} …` : xs.join(', ');
}
