// A segmenter checkpoint: the same folder format as a classifier's (model.safetensors +
// model.json, both written atomically, the weights' hash in model.json), with
// task: "segmentation", the decoder's channel counts, input size and preprocessing.
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readSafetensors, serializeSafetensors } from '../safetensors.js';
import { readModelJson } from '../checkpoint.js';
import { removeStaleTemps, writeFileAtomic } from '../../util/atomicWrite.js';
import { Model } from '../model.js';
import type { Segmenter, SegmenterArch } from './segmenter.js';
import {
  readPreprocessing,
  withImageDefaults,
  type ImagePreprocessingInput,
  type Preprocessing,
} from '../preprocessing.js';

export interface SegmenterMeta {
  format: 'cxrtune-checkpoint/1';
  task: 'segmentation';
  arch: SegmenterArch;
  decoderChannels: number[];
  /** What the one output channel marks. */
  classes: string[];
  /**
   * The same record as a classifier's: size (a multiple of 32), fit 'stretch' (the mask is resized
   * back to the image), normalisation.
   */
  preprocessing: Preprocessing;
  /** Probability threshold for the binary mask. */
  threshold: number;
  /** Licence the weights inherit from their training data, when it restricts use. */
  licence?: string;
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  created: string;
  weightsSha256?: string;
}

export type SegmenterMetaInput = Omit<
  SegmenterMeta,
  'format' | 'task' | 'arch' | 'decoderChannels' | 'preprocessing' | 'created' | 'weightsSha256'
> & { preprocessing: ImagePreprocessingInput };

export async function saveSegmenter(dir: string, model: Segmenter, meta: SegmenterMetaInput): Promise<SegmenterMeta> {
  await removeStaleTemps(dir);
  const full: SegmenterMeta = {
    format: 'cxrtune-checkpoint/1',
    task: 'segmentation',
    arch: model.spec.arch,
    decoderChannels: model.spec.decoderChannels,
    created: new Date().toISOString(),
    ...meta,
    preprocessing: { ...withImageDefaults(meta.preprocessing), normalisation: model.spec.normalisation },
  };
  const bytes = serializeSafetensors(await model.state(), { format: 'pt', arch: full.arch, task: 'segmentation' });
  full.weightsSha256 = createHash('sha256').update(bytes).digest('hex');
  await writeFileAtomic(join(dir, 'model.safetensors'), bytes);
  await writeFileAtomic(join(dir, 'model.json'), `${JSON.stringify(full, null, 2)}\n`);
  return full;
}

export async function loadSegmenter(
  dir: string,
  opts: { device?: string; channelsLast?: boolean } = {},
): Promise<{ model: Segmenter; meta: SegmenterMeta }> {
  const read = await readModelJson<SegmenterMeta>(dir);
  const file = read.file;
  let meta = read.meta;
  if (meta.task !== 'segmentation')
    throw new Error(`${dir} is a ${meta.task ?? 'classification'} checkpoint, not a segmenter`);
  const legacy = meta as SegmenterMeta & { inputSize?: number; channels?: number; normalisation?: unknown };
  meta = { ...meta, preprocessing: readPreprocessing(file, legacy) };
  for (const k of ['inputSize', 'channels', 'normalisation'] as const)
    delete (meta as unknown as Record<string, unknown>)[k];
  const model = await Model.create({
    task: 'segment',
    arch: meta.arch,
    decoderChannels: meta.decoderChannels,
    normalisation: meta.preprocessing.normalisation,
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.channelsLast ? { channelsLast: true } : {}),
  });
  const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
  await model.loadState(tensors);
  return { model, meta };
}
