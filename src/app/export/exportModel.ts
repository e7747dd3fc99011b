// `cxrtune export`: a trained model (a run folder, a checkpoint folder, or a lung segmenter's
// folder) as a file other runtimes read. ONNX: the graph each family file writes
// (engine/onnx, engine/models, engine/segmentation), with the model card in metadata_props
// (key `model_card`, JSON), so the file alone says what the model is, how its input must be
// prepared, where its threshold lies and which protocol its headline figure was measured under.
//
// Choices:
// - The weights are hashed before they are read and must match model.json's weightsSha256, as
//   serve demands: an export never carries weights other than the ones training wrote.
// - No engine model is built: the graph is written from the checkpoint's tensors, and a tensor
//   the graph does not use fails the export (engine/onnx/graph.ts).
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { ENSEMBLE_ARCH, readCheckpointMeta, readModelJson, type CheckpointMeta } from '../../engine/checkpoint.js';
import type { Arch } from '../../engine/types.js';
import { familyOf } from '../../engine/models/registry.js';
import { packageVersion } from '../../engine/native.js';
import { classifierGraph } from '../../engine/onnx/classifierOnnx.js';
import { ONNX_OPSET, type OnnxGraph } from '../../engine/onnx/graph.js';
import { describePreprocessing, readPreprocessing } from '../../engine/preprocessing.js';
import { readSafetensors } from '../../engine/safetensors.js';
import { segmenterGraph } from '../../engine/segmentation/segmenterOnnx.js';
import { SEGMENTER_ARCHS, type SegmenterArch } from '../../engine/segmentation/segmenterSpec.js';
import type { SegmenterMeta } from '../../engine/segmentation/segmenterCheckpoint.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { checkpointVersion, modelCard } from '../serve/modelCard.js';
import { sha256File } from '../serve/servedModel.js';
import { resolveModel } from '../train/modelRef.js';
import { RUN_FILES } from '../train/runFolder.js';

export const EXPORT_FORMATS = ['onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The metadata_props key of the model card. */
export const MODEL_CARD_KEY = 'model_card';

export interface ExportOptions {
  /** Run folder, checkpoint folder or segmenter folder. */
  model: string;
  format: string;
  out: string;
}

export interface ExportResult {
  out: string;
  bytes: number;
  task: 'classification' | 'segmentation';
  arch: string;
  /** The checkpoint folder the weights came from. */
  checkpoint: string;
  weightsSha256: string;
  /** SHA-256 of the written file. */
  fileSha256: string;
  /** The model card written into metadata_props. */
  card: Record<string, unknown>;
}

/** What the graph's input and outputs are, for the card (the graph itself is engine/onnx/graph.ts'). */
function inputRecord(size: number) {
  return {
    name: 'pixels',
    dtype: 'uint8',
    shape: ['batch', size, size, 'channels'],
    layout: 'NHWC; channels 1 (grayscale, replicated to RGB inside) or 3',
    what:
      "the preprocessing record's image (decode, crop, fit, equalise, standardise) as 8-bit values; " +
      'the normalisation ((x / 255 − mean) / std) is inside the graph',
  };
}

/** The checkpoint folder of `path`, with a clear line for a run that has none and a checkpoint without weights. */
async function checkpointOf(path: string): Promise<{ dir: string; segmenter: boolean }> {
  const p = resolve(path);
  if (!existsSync(p)) throw new Error(`export: ${path} does not exist`);
  if (!statSync(p).isDirectory()) throw new Error(`export: ${path} is not a folder (give a run or checkpoint folder)`);
  let dir: string;
  if (existsSync(join(p, 'model.json'))) dir = p;
  else if (existsSync(join(p, RUN_FILES.config)) && !existsSync(join(p, RUN_FILES.best, 'model.json'))) {
    const ref = await resolveModel(p).catch(() => null);
    if (!ref)
      throw new Error(`export: the run ${path} has no checkpoint yet (no ${RUN_FILES.best} or ${RUN_FILES.last})`);
    dir = ref.checkpoint;
  } else dir = (await resolveModel(p)).checkpoint;
  if (!existsSync(join(dir, 'model.safetensors')))
    throw new Error(`export: ${dir} has no weights (model.safetensors is missing)`);
  const { meta } = await readModelJson<{ format?: unknown; task?: unknown }>(dir);
  return { dir, segmenter: meta.task === 'segmentation' };
}

/** The weights' hash, checked against the one training recorded. */
async function verifiedSha256(dir: string, declared: string | undefined): Promise<string> {
  const sha = await sha256File(join(dir, 'model.safetensors'));
  if (declared !== undefined && declared !== sha)
    throw new Error(
      `refusing to export ${dir}: model.safetensors has SHA-256 ${sha.slice(0, 16)}…, but model.json says ` +
        `${declared.slice(0, 16)}… (the weights were changed or damaged after training)`,
    );
  return sha;
}

export async function exportModel(o: ExportOptions): Promise<ExportResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(o.format))
    throw new Error(`unknown export format '${o.format}' (known: ${EXPORT_FORMATS.join(', ')})`);
  const { dir, segmenter } = await checkpointOf(o.model);
  const built = segmenter ? await segmenterExport(dir) : await classifierExport(dir);
  const bytes = built.graph.encode({
    name: built.arch,
    doc:
      `cxrtune ${built.task} model ${built.arch}: input 'pixels' uint8 [batch, H, W, 1|3]; ` +
      `outputs ${built.task === 'classification' ? "'logits' and 'features' (the Grad-CAM layer)" : "'logits'"}; ` +
      `the model card is metadata_props['${MODEL_CARD_KEY}'] (JSON)`,
    metadata: { [MODEL_CARD_KEY]: JSON.stringify(built.card) },
    producerVersion: packageVersion(),
  });
  const out = resolve(o.out);
  await mkdir(dirname(out), { recursive: true });
  await writeFileAtomic(out, bytes);
  return {
    out,
    bytes: bytes.length,
    task: built.task,
    arch: built.arch,
    checkpoint: dir,
    weightsSha256: built.sha256,
    fileSha256: createHash('sha256').update(bytes).digest('hex'),
    card: built.card as Record<string, unknown>,
  };
}

interface Built {
  graph: OnnxGraph;
  card: object;
  task: ExportResult['task'];
  arch: string;
  sha256: string;
}

async function classifierExport(dir: string): Promise<Built> {
  const meta: CheckpointMeta = await readCheckpointMeta(dir);
  if (meta.arch === ENSEMBLE_ARCH)
    throw new Error(`${dir} is an ensemble: export each member (cxrtune export MEMBER) and average their outputs`);
  const family = familyOf(meta.arch); // an unknown architecture ends here, in one line
  const sha256 = await verifiedSha256(dir, meta.weightsSha256);
  const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
  const graph = classifierGraph({
    arch: meta.arch as Arch,
    state: tensors,
    size: meta.preprocessing.size,
    normalisation: meta.preprocessing.normalisation,
    ...(meta.strideIn1x1 ? { strideIn1x1: true } : {}),
  });
  const card = modelCard({ meta, sha256, version: checkpointVersion(meta) });
  return {
    graph,
    task: 'classification',
    arch: meta.arch,
    sha256,
    card: {
      format: 'cxrtune-onnx-card/1',
      kind: 'classification',
      ...card,
      positiveClassIndex: meta.positiveClass,
      weightsSha256: sha256,
      // The headline: the most honest figure the checkpoint carries (source-held-out, external, internal).
      headline: card.figures[0] ?? null,
      preprocessingRecord: meta.preprocessing,
      // Applied to the softmax before the threshold, as every cxrtune consumer does (recipe/calibrationMap.ts).
      calibrationRecord: meta.calibration ?? null,
      thresholdChoice: meta.thresholdChoice ?? null,
      onnx: {
        opset: ONNX_OPSET,
        input: inputRecord(meta.preprocessing.size),
        outputs: {
          logits: ['batch', meta.classes.length],
          features: `the ${family.camLayer} block's output [batch, C, h, w] (Grad-CAM layer)`,
        },
        classifierWeight: `${family.classifier}.weight`,
        reluAfterCamLayer: !!family.reluAfterCamLayer,
        batchNormFolded: 'into the preceding convolution, under its names',
      },
    },
  };
}

async function segmenterExport(dir: string): Promise<Built> {
  const { file, meta } = await readModelJson<SegmenterMeta>(dir);
  if (!(SEGMENTER_ARCHS as readonly string[]).includes(meta.arch))
    throw new Error(`unknown segmenter architecture '${meta.arch}' (known: ${SEGMENTER_ARCHS.join(', ')})`);
  const preprocessing = readPreprocessing(file, meta as SegmenterMeta & Record<string, unknown>);
  const sha256 = await verifiedSha256(dir, meta.weightsSha256);
  const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
  const graph = segmenterGraph({
    arch: meta.arch as SegmenterArch,
    state: tensors,
    size: preprocessing.size,
    normalisation: preprocessing.normalisation,
  });
  return {
    graph,
    task: 'segmentation',
    arch: meta.arch,
    sha256,
    card: {
      format: 'cxrtune-onnx-card/1',
      kind: 'segmentation',
      arch: meta.arch,
      classes: meta.classes,
      threshold: meta.threshold,
      preprocessing: describePreprocessing(preprocessing),
      preprocessingRecord: preprocessing,
      weightsSha256: sha256,
      created: meta.created,
      metrics: meta.metrics ?? null,
      licence: meta.licence ?? null,
      onnx: {
        opset: ONNX_OPSET,
        input: inputRecord(preprocessing.size),
        outputs: { logits: ['batch', 1, preprocessing.size, preprocessing.size] },
        mask: `sigmoid(logits) ≥ ${meta.threshold}`,
        batchNormFolded: 'into the preceding convolution, under its names',
      },
    },
  };
}

/** Human summary of an export, for the CLI. */
export function formatExport(r: ExportResult): string {
  return [
    `${r.task} model ${r.arch} → ${r.out} (${(r.bytes / 2 ** 20).toFixed(1)} MiB, ONNX opset ${ONNX_OPSET})`,
    `  weights ${r.checkpoint} (SHA-256 ${r.weightsSha256.slice(0, 16)}…), file SHA-256 ${r.fileSha256.slice(0, 16)}…`,
  ].join('\n');
}
