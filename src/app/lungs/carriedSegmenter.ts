// A lung-cropping model carries the segmenter it crops with (`train --lungs DIR`): the segmenter's
// model.json and model.safetensors are copied into the run (RUN/segmenter/) and into every
// checkpoint folder (CHECKPOINT/segmenter/), and model.json pins them by path and weights SHA-256.
// evaluate, explain, audit, calibrate, serve and pacs follow then need only --model; their
// --lungs DIR overrides it.
//
// Choices:
// - Copied, not referenced by path: a clinic moves a model folder to another machine, where the
//   training machine's cache or project folder does not exist. A checkpoint folder alone (what
//   serve is usually given) is complete. Within a run the checkpoints' copies are hard links to
//   the run's, so a checkpoint per epoch costs no disk (a plain copy where links fail).
// - Only the two files inference needs travel (not the segmenter's optimizer state or evaluation).
import { copyFileSync, existsSync, linkSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CheckpointMeta, PinnedModel } from '../../engine/checkpoint.js';
import { readModelJson } from '../../engine/checkpoint.js';
import { sha256File } from '../train/dataSource.js';
import { pinnedDir } from '../train/modelRef.js';
import { LungField } from './lungEvidence.js';

/** The folder name of the carried segmenter, inside a run folder and inside each checkpoint folder. */
export const SEGMENTER_DIR = 'segmenter';
const SEGMENTER_FILES = ['model.json', 'model.safetensors'] as const;

/**
 * Copies a segmenter folder's model.json and weights to `to` (built aside, then renamed), its
 * weights checked against its own model.json; returns the pin a checkpoint in `to`'s parent records.
 */
export async function copySegmenter(from: string, to: string): Promise<PinnedModel> {
  const src = resolve(from);
  if (!existsSync(join(src, 'model.json')))
    throw new Error(`lung segmenter not found: ${from} (no model.json; train one with cxrtune lungs train)`);
  const { meta } = await readModelJson<{ format?: unknown; task?: string; weightsSha256?: string }>(src);
  if (meta.task !== 'segmentation') throw new Error(`--lungs ${from} is not a lung segmenter (cxrtune lungs train)`);
  const sha = sha256File(join(src, 'model.safetensors'));
  if (meta.weightsSha256 && meta.weightsSha256 !== sha)
    throw new Error(`--lungs ${from}: model.safetensors does not match its model.json's weightsSha256`);
  const tmp = `${resolve(to)}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of SEGMENTER_FILES) copyFileSync(join(src, f), join(tmp, f));
  rmSync(to, { recursive: true, force: true });
  renameSync(tmp, to);
  return { path: SEGMENTER_DIR, weightsSha256: sha };
}

/** Puts the run's segmenter into a checkpoint folder being written: hard links, else copies. */
export function placeSegmenter(runSegmenter: string, checkpointDir: string): void {
  const to = join(checkpointDir, SEGMENTER_DIR);
  mkdirSync(to, { recursive: true });
  for (const f of SEGMENTER_FILES) {
    rmSync(join(to, f), { force: true });
    try {
      linkSync(join(runSegmenter, f), join(to, f));
    } catch {
      copyFileSync(join(runSegmenter, f), join(to, f));
    }
  }
}

/** Copies a model folder's carried segmenter into a new model folder (calibrate's copy, an ensemble). */
export function copyCarriedSegmenter(fromCheckpoint: string, meta: Pick<CheckpointMeta, 'segmenter'>, to: string) {
  if (!meta.segmenter) return;
  placeSegmenter(pinnedDir(fromCheckpoint, meta.segmenter, 'carried lung segmenter'), to);
}

/**
 * The segmenter a model crops with: `override` (--lungs DIR) when given, else the one its
 * folder carries (weights verified), else null.
 */
export function segmenterDirOf(
  checkpoint: string,
  meta: Pick<CheckpointMeta, 'segmenter'>,
  override?: string,
): string | null {
  if (override) return resolve(override);
  return meta.segmenter ? pinnedDir(checkpoint, meta.segmenter, 'carried lung segmenter') : null;
}

/** The one line a lung-cropping model without a segmenter ends in. */
export const NO_SEGMENTER =
  'this model crops every image to its lung field (model.json preprocessing.crop "lungs") and carries no ' +
  'lung segmenter (trained without --lungs): give one with --lungs DIR (cxrtune lungs train)';

/** Loads the segmenter a model crops with, or null when it has none. */
export async function loadModelSegmenter(
  checkpoint: string,
  meta: Pick<CheckpointMeta, 'segmenter'>,
  o: { override?: string; device?: string } = {},
): Promise<LungField | null> {
  const dir = segmenterDirOf(checkpoint, meta, o.override);
  return dir ? LungField.load(dir, o.device ? { device: o.device } : {}) : null;
}
