// `cxrtune weights import`: any weights cxrtune reads (a .pth, a timm/HF snapshot or hub id,
// safetensors) → a folder with model.safetensors (torchvision names and order, fp32,
// metadata: arch, mean/std, input size, source and its SHA-256) and model.json describing
// them. The folder is then a `--pretrained` argument like any other, and needs no pickle.
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { Model } from '../../engine/model.js';
import { loadPretrained } from '../../engine/pretrained.js';
import { writeSafetensors } from '../../engine/safetensors.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { ARCHS, type Arch, type Normalisation } from '../../engine/types.js';
import { metadataNormalisation, weightsInfo, weightsRef } from '../../engine/weights/weightsFile.js';
import { cxrtuneWeightsCache, HUB_ID } from '../../engine/weights/caches.js';
import { familyOf } from '../../engine/models/registry.js';

interface ImportOptions {
  source: string;
  arch?: Arch;
  /** Output folder (default: cxrtune's cache, weights/<name>). */
  out?: string;
  log?: (msg: string) => void;
}

interface WeightsDescriptor {
  format: 'cxrtune-weights/1';
  arch: Arch;
  numClasses: number;
  inputSize: number;
  normalisation: Normalisation;
  classifier: string;
  /** ResNet v1 (Keras): the engine builds the model with strideIn1x1. */
  strideIn1x1?: true;
  source: string;
  sourceFile: string;
  sourceSha256: string;
  /** Head parameters left freshly initialised (the file's head had another name). */
  reinitialised: string[];
  created: string;
}

interface ImportResult {
  out: string;
  descriptor: WeightsDescriptor;
  tensors: number;
  sourceBytes: number;
  seconds: number;
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * A folder name for the cache: 'timm/resnet50.tv_in1k' → 'timm--resnet50.tv_in1k', 'x/resnet18-f37072fd.pth' →
 * 'resnet18-f37072fd'.
 */
function importName(source: string): string {
  if (!existsSync(source) && HUB_ID.test(source)) return source.replace('/', '--');
  const hub = /models--([^/]+)/.exec(resolve(source));
  if (hub) return hub[1]!;
  const base = basename(resolve(source));
  return base.replace(/(\.(pth|pt|bin|ckpt|tar|safetensors))+$/i, '') || 'weights';
}

export async function importWeights(o: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const log = o.log ?? (() => undefined);
  const source = weightsRef(o.source);
  const info = await weightsInfo(source);
  const found = info.metadata.arch as Arch | undefined;
  const arch = o.arch ?? found;
  if (!arch || !(ARCHS as readonly string[]).includes(arch)) {
    throw new Error(
      `cannot tell the architecture of ${info.file}${found ? ` ('${found}')` : ''}: pass --arch (${ARCHS.join(', ')})`,
    );
  }
  if (o.arch && found && found !== o.arch)
    throw new Error(`${info.file} holds ${found} weights, not ${o.arch} (its names and block counts say so)`);
  // The head's size decides numClasses: torchvision's head name, else any 2-D head weight.
  const headName = `${familyOf(arch).classifier}.weight`;
  const heads = [...info.entries].filter(
    ([k, e]) => (k === headName || k.endsWith(`.${headName}`)) && e.shape.length === 2,
  );
  const numClasses = heads[0]?.[1].shape[0] ?? (Number(info.metadata.num_classes) || 1000);
  const normalisation = metadataNormalisation(info.metadata);
  const strideIn1x1 = info.metadata.stride_in_1x1 === 'true';
  const model = await Model.create({
    arch,
    numClasses,
    ...(normalisation ? { normalisation } : {}),
    ...(strideIn1x1 ? { strideIn1x1 } : {}),
  });
  const rep = await loadPretrained(model, source, log);
  const out = resolve(o.out ?? join(cxrtuneWeightsCache(), importName(o.source)));
  const sourceSha256 = await sha256File(info.file);
  const inputSize = Number(info.metadata.input_size) || 224;
  const descriptor: WeightsDescriptor = {
    format: 'cxrtune-weights/1',
    arch,
    numClasses,
    inputSize,
    normalisation: model.spec.normalisation,
    classifier: familyOf(arch).classifier,
    ...(strideIn1x1 ? { strideIn1x1: true as const } : {}),
    source: o.source,
    sourceFile: info.file,
    sourceSha256,
    reinitialised: rep.reinitialised,
    created: new Date().toISOString(),
  };
  const keep = Object.fromEntries(
    Object.entries(info.metadata).filter(([k]) =>
      ['license', 'timm_architecture', 'timm_tag', 'labels', 'stride_in_1x1', 'conversion'].includes(k),
    ),
  );
  await writeSafetensors(join(out, 'model.safetensors'), await model.state(), {
    ...keep,
    format: 'pt',
    arch,
    layout: `torchvision.models.${arch} state_dict`,
    num_classes: String(numClasses),
    input_size: String(inputSize),
    mean: JSON.stringify(model.spec.normalisation.mean),
    std: JSON.stringify(model.spec.normalisation.std),
    classifier: descriptor.classifier,
    source:
      `${info.metadata.source ?? basename(info.file)} (imported by cxrtune from ${basename(info.file)}, ` +
      `sha256 ${sourceSha256})`,
  });
  await writeFileAtomic(join(out, 'model.json'), `${JSON.stringify(descriptor, null, 2)}\n`);
  // A TF.js model is model.json plus its shards; the hash is model.json's (it names the shards).
  const dir = dirname(info.file);
  const sourceBytes =
    info.format === 'tfjs'
      ? readdirSync(dir)
          .filter((f) => f === basename(info.file) || /^group\d+-shard\d+of\d+/.test(f))
          .reduce((a, f) => a + statSync(join(dir, f)).size, 0)
      : statSync(info.file).size;
  return { out, descriptor, tensors: rep.loaded, sourceBytes, seconds: (performance.now() - t0) / 1000 };
}
