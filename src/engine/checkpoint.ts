// A checkpoint is a folder: model.safetensors (weights, torchvision names) and
// model.json (everything needed to rebuild and use the model). Both files are
// written atomically; loading checks that they agree.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from './model.js';
import { readSafetensors, serializeSafetensors } from './safetensors.js';
import { createHash } from 'node:crypto';
import { removeStaleTemps, writeFileAtomic } from '../util/atomicWrite.js';
import type { Arch } from './types.js';
import {
  readPreprocessing,
  withImageDefaults,
  type ImagePreprocessingInput,
  type Preprocessing,
} from './preprocessing.js';

/** model.json's `arch` of an ensemble folder (app/ensemble): it has no weights of its own. */
export const ENSEMBLE_ARCH = 'ensemble';

/** A file set a model folder pins: where it lies (relative to the folder) and the SHA-256 of its weights. */
export interface PinnedModel {
  /** Relative to the folder whose model.json pins it (resolved first); `absolutePath` when that is missing. */
  path: string;
  absolutePath?: string;
  weightsSha256: string;
}

/** An ensemble's record: its members and how their answers are combined. */
export interface EnsembleRecord {
  /** mean-probability: the mean of the members' (calibrated) class probabilities. */
  combine: 'mean-probability';
  members: (PinnedModel & { arch: Arch; created: string })[];
}

export interface CheckpointMeta {
  format: 'cxrtune-checkpoint/1';
  /** The architecture; an ensemble folder says ENSEMBLE_ARCH and lists its members in `ensemble`. */
  arch: Arch | typeof ENSEMBLE_ARCH;
  classes: string[];
  /** Index of the class whose probability is screened (e.g. 'tuberculosis'). */
  positiveClass: number;
  /**
   * What the model screens for (data/task.ts TaskRecord: the finding's name and code, the classes'
   * display names, the intended use); consumers read it through taskOfModel, which falls back on
   * the class names for checkpoints without one.
   */
  task?: object;
  /** How an image file becomes this model's input (written by training, read by every consumer). */
  preprocessing: Preprocessing;
  dropout?: number;
  /** ResNet v1 (stride in the bottleneck's first 1x1 conv), e.g. fine-tuned from Keras' ResNet-50. */
  strideIn1x1?: true;
  /** Decision threshold on the positive-class probability. */
  threshold: number;
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  /** SHA-256 of the data manifest the model was trained on. */
  manifestSha256?: string;
  created: string;
  /** Free-form additions (data summary, intended use, …). */
  extra?: Record<string, unknown>;
  /** SHA-256 of model.safetensors as written: serve refuses weights that do not match. */
  weightsSha256?: string;
  /**
   * Recalibration fitted by `cxrtune calibrate` (recipe/calibrationMap's CalibrationRecord):
   * every consumer maps the network's softmax through it, and `threshold` is on that scale.
   */
  calibration?: Record<string, unknown>;
  /**
   * How `threshold` was chosen (rule, sample), by train's rule or `cxrtune calibrate`
   * (recipe/threshold's ThresholdChoice; consumers read it through thresholdRecordOf).
   */
  thresholdChoice?: object;
  /**
   * The lung segmenter a lung-cropping model crops with, carried in the folder (`segmenter/`,
   * written by `train --lungs`): consumers crop images that have no lung mask with it.
   */
  segmenter?: PinnedModel;
  /** An ensemble folder (no model.safetensors): its pinned members. */
  ensemble?: EnsembleRecord;
}

/** What a caller gives: the image side of preprocessing (normalisation is the model's own). */
export type CheckpointInput = Omit<
  CheckpointMeta,
  'format' | 'arch' | 'created' | 'preprocessing' | 'weightsSha256'
> & { preprocessing: ImagePreprocessingInput };

export async function saveCheckpoint(dir: string, model: Model, meta: CheckpointInput): Promise<CheckpointMeta> {
  await removeStaleTemps(dir); // temp files of an earlier, killed save
  const full: CheckpointMeta = {
    format: 'cxrtune-checkpoint/1',
    arch: model.spec.arch,
    ...(model.spec.dropout !== undefined ? { dropout: model.spec.dropout } : {}),
    ...(model.spec.strideIn1x1 ? { strideIn1x1: true as const } : {}),
    created: new Date().toISOString(),
    ...meta,
    preprocessing: { ...withImageDefaults(meta.preprocessing), normalisation: model.spec.normalisation },
  };
  if (full.classes.length !== model.spec.numClasses) {
    throw new Error(`checkpoint: ${full.classes.length} class names for a ${model.spec.numClasses}-class model`);
  }
  // Weights first: a model.json never points at missing weights. Their hash goes into
  // model.json so a consumer can tell the weights it loads are the ones training wrote.
  const bytes = serializeSafetensors(await model.state(), { format: 'pt', arch: full.arch });
  full.weightsSha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFileAtomic(join(dir, 'model.safetensors'), bytes);
  await writeFileAtomic(join(dir, 'model.json'), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

/** model.json of a checkpoint folder (classifier or segmenter), parsed, its format checked. */
export async function readModelJson<T extends { format?: unknown }>(dir: string): Promise<{ file: string; meta: T }> {
  const file = join(dir, 'model.json');
  if (!existsSync(file)) throw new Error(`not a cxrtune checkpoint: ${file} is missing`);
  let meta: T;
  try {
    meta = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  if (meta.format !== 'cxrtune-checkpoint/1')
    throw new Error(`${file}: unknown checkpoint format '${String(meta.format)}'`);
  return { file, meta };
}

export async function readCheckpointMeta(dir: string): Promise<CheckpointMeta> {
  const { file, meta } = await readModelJson<CheckpointMeta>(dir);
  // Older model.json: inputSize/channels/normalisation at the top level → the record.
  const legacy = meta as CheckpointMeta & { inputSize?: number; channels?: number; normalisation?: unknown };
  const preprocessing = readPreprocessing(file, legacy);
  delete legacy.inputSize;
  delete legacy.channels;
  delete legacy.normalisation;
  return { ...meta, preprocessing };
}

export async function loadCheckpoint(
  dir: string,
  opts: { device?: string; channelsLast?: boolean } = {},
): Promise<{ model: Model; meta: CheckpointMeta }> {
  const meta = await readCheckpointMeta(dir);
  if (meta.arch === ENSEMBLE_ARCH)
    throw new Error(`${dir} is an ensemble (its members are pinned in model.json): it has no weights to load`);
  const model = await Model.create({
    arch: meta.arch,
    numClasses: meta.classes.length,
    normalisation: meta.preprocessing.normalisation,
    ...(meta.dropout !== undefined ? { dropout: meta.dropout } : {}),
    ...(meta.strideIn1x1 ? { strideIn1x1: true } : {}),
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.channelsLast ? { channelsLast: true } : {}),
  });
  const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
  await model.loadState(tensors);
  return { model, meta };
}
