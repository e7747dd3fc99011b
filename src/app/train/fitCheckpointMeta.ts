// What each checkpoint of a fit records (model.json): classes, preprocessing, the threshold chosen
// on its own validation predictions, the training record with the validation split's protocol, and
// one meta per epoch shared by its last and best checkpoints.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointInput, PinnedModel } from '../../engine/checkpoint.js';
import { SEGMENTER_DIR } from '../lungs/carriedSegmenter.js';
import { sha256File } from './dataSource.js';
import { augmentRecord } from '../../data/augmentMode.js';
import { readManifest } from '../../data/manifest.js';
import { manifestTask, taskFor } from '../../data/task.js';
import type { EpochResult } from '../../recipe/callbacks.js';
import type { ValidationPredictions } from '../../recipe/trainer.js';
import { validationProtocolOf, type ProtocolInfo } from '../evaluate/protocol.js';
import type { Fittable } from './fitRecord.js';
import { provisionalThreshold, trainThresholdRule, type TrainConfig } from './trainConfig.js';
import { trainThresholdChoice, type ValidationSample } from './trainThreshold.js';

export interface Prepared {
  cfg: TrainConfig;
  learner: Fittable;
  runDir: string;
  /** The validation split's protocol (internal / source-held-out / external), recorded in model.json. */
  validProtocol: ProtocolInfo;
  /** Sources of the validation split (the threshold record names them). */
  validSources: string[];
  /** The run's lung segmenter (RUN/segmenter/), which every checkpoint carries; null without --lungs. */
  segmenter: PinnedModel | null;
}

export function prepared(cfg: TrainConfig, learner: Fittable, runDir: string): Prepared {
  const validSources = [
    ...new Set(
      readManifest(cfg.manifest)
        .rows.filter((r) => r.split === cfg.data.validSplit)
        .map((r) => r.source),
    ),
  ].sort();
  const seg = join(runDir, SEGMENTER_DIR, 'model.safetensors');
  return {
    cfg,
    learner,
    runDir,
    segmenter: cfg.lungs && existsSync(seg) ? { path: SEGMENTER_DIR, weightsSha256: sha256File(seg) } : null,
    validProtocol: validationProtocolOf({ training: { config: cfg } }, readManifest),
    validSources,
  };
}

export function checkpointMeta(
  p: Prepared,
  r: EpochResult | null,
  pred: ValidationPredictions | null = null,
): CheckpointInput {
  const { cfg, learner } = p;
  const data = learner.data!;
  const sample: ValidationSample = {
    manifest: cfg.manifest,
    sha256: data.manifestSha256,
    split: cfg.data.validSplit,
    protocol: p.validProtocol,
    sources: p.validSources,
  };
  // A rule chooses on this checkpoint's own validation predictions (epoch 0, before training: the provisional 0.5).
  const choice = r
    ? trainThresholdChoice(
        trainThresholdRule(cfg.validation),
        provisionalThreshold(cfg.validation),
        pred,
        r.epoch,
        data.positiveClass,
        sample,
      )
    : { threshold: provisionalThreshold(cfg.validation) };
  return {
    classes: data.classes,
    positiveClass: data.positiveClass,
    // What it screens for: the dataset's task record (summary.json beside the manifest) over the class names.
    task: taskFor(data.classes, data.positiveClass, manifestTask(cfg.manifest) ?? undefined),
    preprocessing: cfg.preprocessing,
    ...choice,
    training: {
      config: cfg,
      epoch: r ? r.epoch + 1 : 0,
      step: r ? r.step : 0,
      unfoldedBatchNorm: learner.unfoldedBatchNorm,
      validProtocol: p.validProtocol,
      augment: augmentRecord(cfg.data.aug),
    },
    ...(r ? { metrics: { trainLoss: r.trainLoss, ...r.valid } } : {}),
    manifestSha256: data.manifestSha256,
    ...(p.segmenter ? { segmenter: p.segmenter } : {}),
  };
}

/** The last and best checkpoints of an epoch share one meta (one threshold choice, one bootstrap). */
export function memoByEpoch(f: (r: EpochResult | null) => CheckpointInput): (r: EpochResult | null) => CheckpointInput {
  let last: { r: EpochResult | null; meta: CheckpointInput } | null = null;
  return (r) => {
    if (!last || last.r !== r) last = { r, meta: f(r) };
    return last.meta;
  };
}
