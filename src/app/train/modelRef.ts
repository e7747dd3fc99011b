// `--model RUN`: a run folder (its best checkpoint, else its last) or a checkpoint folder.
// Also recovers what the model was trained on, so evaluation can refuse a test set that
// shares patients with the training split (that would inflate every metric).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readCheckpointMeta, type CheckpointMeta } from '../../engine/checkpoint.js';
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
