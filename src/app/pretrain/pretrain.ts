// `cxrtune pretrain`: adapts an ImageNet backbone to radiographs by supervised training on images the
// COVID-19 evaluation never uses (pretrainData.ts), through the ordinary training path (startRun,
// Learner.fit), and writes the result as a `--pretrained` file like any other: the backbone's
// tensors in torchvision names without the classifier (the fine-tuning head starts fresh whatever
// its size), the input normalisation it was trained with, and its model card — what it saw, for
// how long, where, from which weights — in the file's metadata (`model_card`) and beside it
// (model-card.json). With `probe`, the audit's source probe on the COVID-19 validation split runs
// on the starting and on the adapted features, before any fine-tuning (featureProbe.ts).
//
// Why supervised and not self-supervised: docs/pretraining.md.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { buildDataset } from '../../data/build.js';
import { readManifest } from '../../data/manifest.js';
import { readCheckpointMeta } from '../../engine/checkpoint.js';
import { familyOf } from '../../engine/models/registry.js';
import { cpuHasBf16, getThreads, physicalCores } from '../../engine/runtime.js';
import { readSafetensors, writeSafetensors } from '../../engine/safetensors.js';
import type { Arch, Precision, TensorMap } from '../../engine/types.js';
import { resolveWeightsFile, weightsInfo } from '../../engine/weights/weightsFile.js';
import type { TrainerCallback } from '../../recipe/callbacks.js';
import { sha256File } from '../train/dataSource.js';
import { startRun, type RunSummary } from '../train/experiment.js';
import { writeJson } from '../train/runFolder.js';
import { resolveTrainConfig } from '../train/trainConfig.js';
import { featureProbe, type FeatureProbe } from './featureProbe.js';
import { checkExcluded, pretrainPreset, type ExclusionCheck } from './pretrainData.js';

export const PRETRAIN_DEFAULTS = {
  arch: 'mobilenet_v2' as Arch,
  epochs: 3,
  size: 160,
  batch: 16,
  lrMin: 1e-4,
  lrMax: 2e-3,
  aug: 'online',
};

export const MODEL_CARD_FORMAT = 'cxrtune-pretrained/1';
export const MODEL_CARD_FILE = 'model-card.json';

export interface PretrainOptions {
  /** A ../shared/data-style folder: the pretraining set is built from it (pretrainData.ts). */
  data?: string;
  /** Or a manifest with train (and valid) splits. */
  manifest?: string;
  out: string;
  arch?: Arch;
  /** Starting weights (a file, folder or hub id), or null for random initialisation. */
  pretrained: string | null;
  epochs?: number;
  size?: number;
  batch?: number;
  lrMin?: number;
  lrMax?: number;
  seed?: number;
  precision?: Precision;
  threads?: number | null;
  /** Evaluation manifests whose images must not be in the pretraining set (checked by content). */
  exclude?: string[];
  /** A COVID-19 manifest: the source probe on its `probeSplit` (default valid), before and after. */
  probe?: string;
  probeSplit?: string;
  log?: (m: string) => void;
  callbacks?: TrainerCallback[];
  signal?: AbortSignal;
}

export interface ModelCard {
  format: typeof MODEL_CARD_FORMAT;
  created: string;
  arch: Arch;
  task: string;
  startedFrom: { file: string; sha256: string; source: string | null } | null;
  data: {
    manifest: string;
    manifestSha256: string;
    classes: string[];
    /** split → label → source → images. */
    counts: Record<string, Record<string, Record<string, number>>>;
    notes: string[];
    excluded: ExclusionCheck[];
  };
  training: {
    epochs: number;
    epochsDone: number;
    status: string;
    size: number;
    batch: number;
    schedule: string;
    aug: string;
    precision: Precision;
    seed: number;
    bestEpoch: number;
    monitor: string;
    best: number;
    validAccuracy: number | null;
    imagesPerSecond: number;
    seconds: number;
    where: { device: string; cpu: string; cores: number; threads: number; node: string };
  };
  weights: { file: string; tensors: number; dropped: string[]; checkpoint: string };
  /** The source probe on the COVID-19 validation split: the starting features and these. */
  probe?: { start: FeatureProbe | null; adapted: FeatureProbe };
}

export interface PretrainResult {
  weights: string;
  card: string;
  modelCard: ModelCard;
  run: RunSummary;
}

function countsOf(manifest: string): ModelCard['data']['counts'] {
  const out: ModelCard['data']['counts'] = {};
  for (const r of readManifest(manifest).rows) {
    const split = r.split || 'all';
    out[split] ??= {};
    out[split][r.label] ??= {};
    const byLabel = out[split][r.label]!;
    byLabel[r.source] = (byLabel[r.source] ?? 0) + 1;
  }
  return out;
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const log = o.log ?? (() => undefined);
  if (!o.data === !o.manifest) throw new Error('pretrain: give --data DIR or --manifest CSV (one of them)');
  const out = resolve(o.out);
  const arch = o.arch ?? PRETRAIN_DEFAULTS.arch;
  const weightsFile = join(out, `${arch}-cxr.safetensors`);
  if (existsSync(weightsFile)) throw new Error(`${o.out} already holds ${weightsFile}; choose another --out`);
  await mkdir(out, { recursive: true });
  const seed = o.seed ?? 0;
  let manifest: string;
  let notes: string[] = [];
  if (o.data) {
    log(`data: building the pretraining set from ${o.data}`);
    const b = await buildDataset({ ...pretrainPreset(o.data), seed, out: join(out, 'data'), onError: 'skip' });
    manifest = b.manifestFile;
    notes = b.summary.notes;
  } else manifest = resolve(o.manifest!);
  const excluded = checkExcluded(manifest, o.exclude ?? []);
  for (const e of excluded) log(`exclusion: none of the ${e.images} images of ${e.manifest} is in the pretraining set`);

  const precision = o.precision ?? (cpuHasBf16() ? 'bf16' : 'fp32');
  const cfg = resolveTrainConfig(
    {},
    {
      manifest,
      arch,
      out: join(out, 'run'),
      pretrained: o.pretrained,
      size: o.size ?? PRETRAIN_DEFAULTS.size,
      batch: o.batch ?? PRETRAIN_DEFAULTS.batch,
      epochs: o.epochs ?? PRETRAIN_DEFAULTS.epochs,
      lrMin: o.lrMin ?? PRETRAIN_DEFAULTS.lrMin,
      lrMax: o.lrMax ?? PRETRAIN_DEFAULTS.lrMax,
      schedule: 'oneCycle',
      groups: 'stage',
      discriminative: true,
      aug: PRETRAIN_DEFAULTS.aug,
      monitor: 'valid_loss',
      precision,
      seed,
      threads: o.threads ?? null,
    },
  );
  const ro = {
    log,
    ...(o.callbacks ? { callbacks: o.callbacks } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  };
  const t0 = performance.now();
  const prepared = await startRun(cfg, ro);
  const run = await prepared.learner.fit(prepared.cfg, ro);
  if (run.status === 'diverged' || run.status === 'interrupted')
    throw new Error(`pretraining ${run.status}: ${run.message}`);
  const seconds = (performance.now() - t0) / 1000;

  const checkpoint = run.best.checkpoint ?? run.lastCheckpoint;
  if (!checkpoint) throw new Error('pretraining wrote no checkpoint');
  const meta = await readCheckpointMeta(checkpoint);
  const { tensors } = await readSafetensors(join(checkpoint, 'model.safetensors'));
  const head = `${familyOf(arch).classifier}.`;
  const backbone: TensorMap = new Map([...tensors].filter(([k]) => !k.startsWith(head)));
  const dropped = [...tensors.keys()].filter((k) => k.startsWith(head));

  const start = o.pretrained ? resolveWeightsFile(o.pretrained) : null;
  const card: ModelCard = {
    format: MODEL_CARD_FORMAT,
    created: new Date().toISOString(),
    arch,
    task: `supervised, ${meta.classes.length} classes (${meta.classes.join(', ')}), cross-entropy`,
    startedFrom: start
      ? { file: start, sha256: sha256File(start), source: (await weightsInfo(start)).metadata.source ?? null }
      : null,
    data: {
      manifest,
      manifestSha256: sha256File(manifest),
      classes: meta.classes,
      counts: countsOf(manifest),
      notes,
      excluded,
    },
    training: {
      epochs: cfg.schedule.epochs,
      epochsDone: run.epochsDone,
      status: run.status,
      size: cfg.preprocessing.size,
      batch: cfg.data.batch,
      schedule: `${cfg.schedule.kind} α ${cfg.schedule.lrMin}..${cfg.schedule.lrMax}, discriminative over stages`,
      aug: cfg.data.aug,
      precision,
      seed,
      bestEpoch: run.best.epoch,
      monitor: run.monitor,
      best: run.best.value,
      validAccuracy: run.lastValid?.accuracy ?? null,
      imagesPerSecond: run.imagesPerSecond,
      seconds,
      where: {
        device: cfg.compute.device,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: physicalCores(),
        threads: getThreads(),
        node: process.version,
      },
    },
    weights: { file: weightsFile, tensors: backbone.size, dropped, checkpoint },
  };
  const write = async () => {
    const n = meta.preprocessing.normalisation;
    await writeSafetensors(weightsFile, backbone, {
      format: MODEL_CARD_FORMAT,
      arch,
      mean: JSON.stringify(n.mean),
      std: JSON.stringify(n.std),
      input_size: String(cfg.preprocessing.size),
      source: `cxrtune pretrain (${card.task}; ${start ? `from ${start}` : 'from random initialisation'})`,
      model_card: JSON.stringify(card),
    });
    await writeJson(join(out, MODEL_CARD_FILE), card);
  };
  await write();
  log(`weights: ${weightsFile} (${backbone.size} tensors, classifier left out: ${dropped.join(', ')})`);
  if (o.probe) {
    const po = { manifest: o.probe, split: o.probeSplit ?? 'valid', seed, threads: o.threads ?? null };
    log(`source probe on ${o.probe} [${po.split}]: starting features, then the adapted ones`);
    const before = start ? await featureProbe({ ...po, weights: start }) : null;
    const after = await featureProbe({ ...po, weights: weightsFile });
    card.probe = { start: before, adapted: after };
    await write();
  }
  return { weights: weightsFile, card: join(out, MODEL_CARD_FILE), modelCard: card, run };
}

/** A pretrained file's model card (its metadata's `model_card`), or null when it has none. */
export async function readModelCard(file: string): Promise<ModelCard | null> {
  const info = await weightsInfo(file);
  const text = info.metadata.model_card;
  if (text) return JSON.parse(text) as ModelCard;
  const side = join(resolve(file, '..'), MODEL_CARD_FILE);
  return existsSync(side) ? (JSON.parse(await readFile(side, 'utf8')) as ModelCard) : null;
}
