// The model the server screens with: a checkpoint folder (or a run folder: its best, else
// last, checkpoint) or an ensemble folder, loaded once, identified by the SHA-256 of its weights
// so every result and audit row names exactly which model produced it; that hash must match the
// one training wrote into model.json (weightsSha256), else the model is not served. An
// ensemble's is the hash over its members' hashes, each member's weights checked as it loads.
// The lung segmenter is --lungs DIR, else the one the model carries (lungs/carriedSegmenter.ts).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ENSEMBLE_ARCH, readCheckpointMeta, type CheckpointMeta } from '../../engine/checkpoint.js';
import type { InferenceModel } from '../../engine/types.js';
import { RUN_FILES, lastCheckpointDir } from '../train/runFolder.js';
import { Learner } from '../train/learner.js';
import type { LungField } from '../lungs/lungEvidence.js';
import { thresholdRecordOf } from '../../recipe/threshold.js';
import type { OodRecord } from '../../recipe/frontalCheck.js';
import { checkOodFor, OOD_FILE, readOodRecord } from '../ood/oodFile.js';
import { checkpointVersion } from './modelCard.js';

export interface ServedModel {
  model: InferenceModel;
  meta: CheckpointMeta;
  dir: string;
  /** SHA-256 of model.safetensors. */
  sha256: string;
  version: string;
  /**
   * The lung segmenter (`serve --lungs DIR`, else the model's own): a lung-cropping model crops with it,
   * and each result says how much of its evidence lies in the lungs.
   */
  lungs?: LungField;
  /** The refusal's statistics (ood.json beside model.json), null for a model fitted before them. */
  ood: OodRecord | null;
}

/** A checkpoint folder, or a run folder holding checkpoints/best or checkpoints/last. */
function resolveCheckpointDir(path: string): string {
  const p = resolve(path);
  if (!existsSync(p)) throw new Error(`--model: ${path} does not exist`);
  if (!statSync(p).isDirectory())
    throw new Error(`--model: ${path} is not a folder (give a run folder or a checkpoint folder)`);
  if (existsSync(join(p, 'model.json'))) return p;
  if (existsSync(join(p, RUN_FILES.best, 'model.json'))) return join(p, RUN_FILES.best);
  const last = lastCheckpointDir(p);
  if (last) return last;
  throw new Error(`--model: ${path} holds no checkpoint (no model.json, ${RUN_FILES.best}/ or ${RUN_FILES.last}/)`);
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function loadServedModel(
  path: string,
  opts: { device?: string; threads?: number; lungs?: string; warn?: (line: string) => void } = {},
): Promise<ServedModel> {
  const dir = resolveCheckpointDir(path);
  const declaredMeta = await readCheckpointMeta(dir);
  const declared = declaredMeta.weightsSha256;
  const ensemble = declaredMeta.arch === ENSEMBLE_ARCH;
  // The weights are hashed before they are loaded: tampered weights never reach the engine
  // (an ensemble's members are hashed by its loader, which checks the identity below).
  const sha256 = ensemble ? String(declared) : await sha256File(join(dir, 'model.safetensors'));
  if (declared === undefined) {
    opts.warn?.(
      `warning: ${join(dir, 'model.json')} names no weightsSha256 (written before cxrtune recorded it): the ` +
        `weights cannot be verified`,
    );
  } else if (declared !== sha256) {
    throw new Error(
      `refusing to serve ${dir}: model.safetensors has SHA-256 ${sha256.slice(0, 16)}…, but model.json says ` +
        `${String(declared).slice(0, 16)}… (the weights were changed or damaged after training)`,
    );
  }
  // The same Learner as evaluate and explain: same threads rule, same preprocessing record.
  const learner = await Learner.loadCheckpointDir(dir, {
    threads: opts.threads ?? null,
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.lungs ? { lungs: opts.lungs } : {}),
  });
  const { model, meta } = learner;
  checkServable(meta);
  const version = checkpointVersion(meta);
  const lungs = await learner.lungField();
  const ood = await readOodRecord(dir);
  if (ood) {
    if (ood.features.layer !== model.camLayer)
      throw new Error(`${join(dir, OOD_FILE)} was fitted on layer ${ood.features.layer}, not ${model.camLayer}`);
    checkOodFor(ood, sha256, dir);
  } else {
    opts.warn?.(
      `warning: ${dir} has no ${OOD_FILE}: images that are not frontal chest radiographs get a score too; ` +
        `write it with cxrtune ood fit ${path}`,
    );
  }
  if (ood && !lungs)
    opts.warn?.('warning: without --lungs the refusal checks the feature distance alone, not the lung fields');
  return { model, meta, dir, sha256, version, ood, ...(lungs ? { lungs } : {}) };
}

function checkServable(m: CheckpointMeta): void {
  const bad = (what: string) => {
    throw new Error(`checkpoint cannot be served: ${what}`);
  };
  if (!Array.isArray(m.classes) || m.classes.length < 2) bad('it needs at least two classes');
  if (!(Number.isInteger(m.positiveClass) && m.positiveClass >= 0 && m.positiveClass < m.classes.length))
    bad(`positiveClass ${m.positiveClass} is not a class index`);
  try {
    thresholdRecordOf(m, 'model.json'); // the value and how it was chosen, as the model card shows them
  } catch (e) {
    bad((e as Error).message);
  }
  // The record itself was checked when model.json was read; serving bounds the size further.
  const S = m.preprocessing.size;
  if (S < 32 || S > 1024) bad(`input size ${S} is not in [32, 1024]`);
}
