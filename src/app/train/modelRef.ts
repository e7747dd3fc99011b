// `--model RUN`: a run folder (its best checkpoint, else its last) or a checkpoint folder.
// Also recovers what the model was trained on, so evaluation can refuse a test set that
// shares patients with the training split (that would inflate every metric).
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { readCheckpointMeta, type CheckpointMeta, type PinnedModel } from '../../engine/checkpoint.js';
import { sha256File } from './dataSource.js';
import { readManifest } from '../../data/manifest.js';
import { isOfflineAug } from '../../data/augmentMode.js';
import { RUN_FILES } from './runFolder.js';
import { recordedTrainConfig } from './trainConfig.js';

export interface ModelRef {
  /** Folder holding model.json + model.safetensors. */
  checkpoint: string;
  /** The run folder, when the model came from one. */
  runDir: string | null;
  meta: CheckpointMeta;
}

export async function resolveModel(path: string): Promise<ModelRef> {
  const p = resolve(path);
  if (!existsSync(p)) throw new Error(`model not found: ${path}`);
  for (const sub of [RUN_FILES.best, RUN_FILES.last, `${RUN_FILES.last}.old`]) {
    if (existsSync(join(p, sub, 'model.json')))
      return { checkpoint: join(p, sub), runDir: p, meta: await readCheckpointMeta(join(p, sub)) };
  }
  if (existsSync(join(p, 'model.json'))) {
    // A checkpoint inside a run folder (RUN/checkpoints/best): remember the run.
    const up = dirname(dirname(p));
    const runDir = existsSync(join(up, RUN_FILES.config)) ? up : null;
    return { checkpoint: p, runDir, meta: await readCheckpointMeta(p) };
  }
  throw new Error(`${path} is neither a run folder (no ${RUN_FILES.best}) nor a checkpoint (no model.json)`);
}

/** A pin of `target` (a model folder with model.safetensors) written into `folder`'s model.json. */
export function pinOf(folder: string, target: string, weightsSha256: string): PinnedModel {
  const abs = resolve(target);
  return { path: relative(resolve(folder), abs) || '.', absolutePath: abs, weightsSha256 };
}

/** The same pin, written into another folder (a calibrated copy): the relative path re-based. */
export function repin(pin: PinnedModel, from: string, to: string): PinnedModel {
  const abs = isAbsolute(pin.path) ? pin.path : resolve(from, pin.path);
  return pinOf(to, existsSync(join(abs, 'model.json')) ? abs : (pin.absolutePath ?? abs), pin.weightsSha256);
}

/**
 * The folder a pin names, its weights verified: the path relative to `folder` (the two moved
 * together), else the absolute one it was made with. A missing folder or other weights end in one line.
 */
export function pinnedDir(folder: string, pin: PinnedModel, what: string): string {
  const tries = [resolve(folder, pin.path), ...(pin.absolutePath ? [pin.absolutePath] : [])];
  const dir = tries.find((d) => existsSync(join(d, 'model.json')));
  if (!dir) throw new Error(`${what} not found: ${tries.join(' or ')} (pinned in ${join(folder, 'model.json')})`);
  const weights = join(dir, 'model.safetensors');
  if (!existsSync(weights)) throw new Error(`${what} ${dir} has no model.safetensors`);
  const actual = sha256File(weights);
  if (actual !== pin.weightsSha256)
    throw new Error(
      `${what} ${dir}: model.safetensors has SHA-256 ${actual.slice(0, 16)}…, but ${join(folder, 'model.json')} ` +
        `pins ${pin.weightsSha256.slice(0, 16)}… (the weights changed after it was pinned)`,
    );
  return dir;
}

interface TrainingSet {
  manifest: string;
  split: string;
  /** Patient ids of the training split; null when the training manifest is not available. */
  patients: Set<string> | null;
  /** Why patients could not be recovered. */
  unavailable?: string;
}

/** The training manifest and split recorded in the checkpoint (training.config), and its patients. */
export function trainingSet(meta: CheckpointMeta): TrainingSet | null {
  const cfg = recordedTrainConfig(meta);
  if (!cfg.manifest) return null;
  const split = cfg.trainSplit ?? 'train';
  if (!existsSync(cfg.manifest))
    return {
      manifest: cfg.manifest,
      split,
      patients: null,
      unavailable: `training manifest ${cfg.manifest} is not on this machine`,
    };
  const patients = new Set(
    readManifest(cfg.manifest)
      .rows.filter((r) => r.split === split)
      .map((r) => r.patientId),
  );
  // Offline-augmented training rows name their parents' patients too.
  if (isOfflineAug(cfg.aug) && existsSync(cfg.aug)) {
    for (const r of readManifest(cfg.aug).rows) if (!r.split || r.split === split) patients.add(r.patientId);
  }
  return { manifest: cfg.manifest, split, patients };
}
