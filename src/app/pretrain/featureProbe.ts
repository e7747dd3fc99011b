// The shortcut audit's source probe (recipe/shortcutAudit.ts sourceProbe) on a weights file's
// own features, before any fine-tuning: pooled activations of the family's last block on a
// manifest's split, then, within each label, a cross-validated linear probe for the source.
// Comparing a radiograph-adapted backbone with the ImageNet one it started from says whether
// pretraining taught the features where an image comes from.
import { readManifest } from '../../data/manifest.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import { Model } from '../../engine/model.js';
import { loadPretrained } from '../../engine/pretrained.js';
import { IMAGE_DEFAULTS, type Preprocessing } from '../../engine/preprocessing.js';
import { setThreads } from '../../engine/runtime.js';
import { isArch } from '../../engine/models/registry.js';
import { metadataNormalisation, weightsInfo } from '../../engine/weights/weightsFile.js';
import { BOOTSTRAP_RESAMPLES } from '../../recipe/metrics.js';
import { sourceProbe, type ProbeResult } from '../../recipe/shortcutAudit.js';
import { splitRows } from '../evaluate/evaluatedSet.js';
import { loaderFor } from '../train/predictSet.js';

export interface FeatureProbeOptions {
  weights: string;
  manifest: string;
  /** Default valid. */
  split?: string;
  /** Input side (default 224, the recommended recipe's). */
  size?: number;
  batch?: number;
  threads?: number | null;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FeatureProbe {
  weights: string;
  manifest: string;
  split: string;
  images: number;
  layer: string;
  dims: number;
  /** How the images were fed: cut to their lung box when every row has a mask, else whole. */
  crop: Preprocessing['crop'];
  probe: ProbeResult;
}

export async function featureProbe(o: FeatureProbeOptions): Promise<FeatureProbe> {
  if (o.threads) setThreads(o.threads);
  const info = await weightsInfo(o.weights);
  const arch = info.metadata.arch;
  if (!isArch(arch)) throw new Error(`${o.weights}: architecture not recognised (${arch ?? 'none recorded'})`);
  const manifest = readManifest(o.manifest);
  const split = o.split ?? 'valid';
  const rows = splitRows(manifest, split, o.manifest);
  const classes = [...new Set(rows.map((r) => r.label))].sort();
  const normalisation = metadataNormalisation(info.metadata);
  // The head is irrelevant to pooled features; any class count works.
  const model = await Model.create({
    arch,
    numClasses: Math.max(2, classes.length),
    ...(normalisation ? { normalisation } : {}),
  });
  await loadPretrained(model, o.weights, () => undefined);
  const masks = LUNG_MASK_COLUMNS.some((c) => rows.every((r) => r.extra[c]));
  const preprocessing: Preprocessing = {
    ...IMAGE_DEFAULTS,
    size: o.size ?? 224,
    crop: masks ? 'lungs' : 'none',
    channels: 1,
    normalisation: model.spec.normalisation,
  };
  const loader = loaderFor(manifest, { classes, positiveClass: 0, preprocessing }, split, o.batch ?? 16);
  const n = loader.length;
  let x: Float32Array | null = null;
  let dims = 0;
  const labels: string[] = [];
  const sources: string[] = [];
  const patients: string[] = [];
  for await (const b of loader.epoch(0)) {
    const f = await model.features(b);
    dims = f.shape[1];
    x ??= new Float32Array(n * dims);
    x.set(f.features, labels.length * dims);
    for (const r of b.rows) {
      const row = manifest.rows[r]!;
      labels.push(row.label);
      sources.push(row.source);
      patients.push(row.patientId);
    }
    o.onProgress?.(labels.length, n);
  }
  const probe = sourceProbe(x ?? new Float32Array(0), dims, labels, sources, patients, {
    bootstrap: BOOTSTRAP_RESAMPLES,
    seed: o.seed ?? 0,
  });
  return {
    weights: info.file,
    manifest: manifest.file,
    split,
    images: n,
    layer: model.camLayer,
    dims,
    crop: preprocessing.crop,
    probe,
  };
}
