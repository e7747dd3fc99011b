// The Learner: a model together with the preprocessing it reads images with, its classes and
// (when training) its data — fastai's Learner, with its verbs: fit, lrFind, predict, save and
// load. Every use case gets its model here, the same way: train, lr-find, resume
// (Learner.forTraining / Learner.resume, then fit or lrFind) and evaluate, explain, audit,
// cam-check, calibrate and serve (Learner.load), which takes a single model's folder or an
// ensemble's (app/ensemble: the members' mean behind the same calls) alike.
//
// Choices:
// - Threads are set here, once, from the caller's `threads` (default: physical cores, split
//   between local data-parallel workers): the engine's pool is process-wide.
// - forTraining seeds the engine RNG with cfg.seed before the network is built, so the
//   initialisation (and a re-initialised head) is a function of the seed alone.
// - BatchNorm unfolding of a folded pretrained checkpoint (bnUnfold.ts) uses the first 64
//   training images in a fixed order; it is part of building the model, not of training.
// - A lung-cropping model finds lung boxes itself where they are missing (an image file, a
//   manifest without lung_mask) with the segmenter its folder carries or --lungs DIR
//   (lungs/carriedSegmenter.ts), loaded on first need; a manifest's own masks come first.
import type { Region } from '../../data/lungCrop.js';
import { channelsLastFor } from '../../engine/models/registry.js';
import {
  ENSEMBLE_ARCH,
  loadCheckpoint,
  readCheckpointMeta,
  saveCheckpoint,
  type CheckpointInput,
  type CheckpointMeta,
} from '../../engine/checkpoint.js';
import { workerThreads } from '../../engine/distributed.js';
import { Model } from '../../engine/model.js';
import { loadPretrained } from '../../engine/pretrained.js';
import { imageOptions, imagesBatch, type ImagePreprocessing, type Preprocessing } from '../../engine/preprocessing.js';
import { checkDevice, manualSeed, physicalCores, setThreads } from '../../engine/runtime.js';
import type { Batch, InferenceModel, Normalisation, Precision } from '../../engine/types.js';
import { metadataNormalisation, weightsInfo } from '../../engine/weights/weightsFile.js';
import { decodeImage, type GrayImage } from '../../data/image.js';
import { LUNG_MASK_COLUMNS } from '../../data/inputImage.js';
import type { Manifest } from '../../data/manifest.js';
import { loadEnsemble } from '../ensemble/loadEnsemble.js';
import { loadModelSegmenter, NO_SEGMENTER } from '../lungs/carriedSegmenter.js';
import type { LungField } from '../lungs/lungEvidence.js';
import { withLungMasks } from '../lungs/predictMasks.js';
import { applyCalibration, calibrationOf } from '../../recipe/calibrationMap.js';
import type { LrFindResult } from '../../recipe/lrFinder.js';
import { lrFindOnModel, type LrFindOnModelOptions } from '../../recipe/lrFindOnModel.js';
import type { LoaderBatch } from '../../data/batchLoader.js';
import { batchNormNames, isFoldedBatchNorm, unfoldBatchNorm } from './bnUnfold.js';
import { decide } from '../serve/screen.js';
import type { RunData } from './dataSource.js';
import { fitLearner } from './fit.js';
import type { FitOptions, RunSummary } from './fitRecord.js';
import { resolveModel, type ModelRef } from './modelRef.js';
import { batchesOfRows, predictSet, type PredictedSet, type PredictSetOptions } from './predictSet.js';
import type { TrainConfig } from './trainConfig.js';

/** What the consumers of a trained model read (a subset of model.json). */
export type LearnerMeta = Pick<CheckpointMeta, 'arch' | 'classes' | 'positiveClass' | 'threshold' | 'preprocessing'> &
  Partial<CheckpointMeta>;

/** The TrainConfig fields that decide how the model is built and fed (lr-find shares them). */
export type BuildConfig = Pick<TrainConfig, 'arch' | 'pretrained' | 'seed' | 'preprocessing'> & {
  compute: Pick<TrainConfig['compute'], 'device' | 'threads'>;
  transfer: Pick<TrainConfig['transfer'], 'unfoldBn'>;
};

/** One image's answer: the decision at the model's threshold and every class's (calibrated) probability. */
export interface Prediction {
  label: string;
  /** The positive class's probability reached the threshold. */
  positive: boolean;
  /** One per class, in meta.classes order, through the model's calibration. */
  probabilities: number[];
}

/** A learner loaded from a model folder (one network or an ensemble): its whole model.json, and where it came from. */
export type LoadedLearner = Learner<InferenceModel> & { readonly meta: CheckpointMeta; readonly ref: ModelRef };

export interface LoadOptions {
  threads?: number | null;
  device?: string;
  /** A lung segmenter folder instead of the one the model carries (--lungs DIR). */
  lungs?: string;
  /** Data-parallel worker: share the cores with the other local ranks. */
  worker?: boolean;
}

export function useThreads(threads: number | null | undefined, worker = false): void {
  setThreads(threads ?? (worker ? workerThreads(physicalCores()) : physicalCores()));
}

export class Learner<M extends InferenceModel = Model> {
  private lungs: Promise<LungField | null> | null = null;
  private lungsOverride: string | undefined;
  private device: string | undefined;

  private constructor(
    readonly model: M,
    readonly meta: LearnerMeta,
    /** Where a loaded model came from (null for a model built for training). */
    readonly ref: ModelRef | null,
    /** Training data (training and lr-find only). */
    readonly data: RunData | null,
    /** True when BatchNorm was unfolded while building the model. */
    readonly unfoldedBatchNorm = false,
  ) {}

  get preprocessing(): Preprocessing {
    return this.meta.preprocessing;
  }

  /** A trained model: a run folder (best, else last checkpoint) or a checkpoint folder. */
  static async load(path: string, o: LoadOptions = {}): Promise<LoadedLearner> {
    const ref = await resolveModel(path);
    return Learner.loadRef(ref, o);
  }

  static async loadRef(ref: ModelRef, o: LoadOptions = {}): Promise<LoadedLearner> {
    useThreads(o.threads, o.worker);
    if (o.device) checkDevice(o.device);
    const dev = o.device ? { device: o.device } : {};
    let learner: Learner<InferenceModel>;
    if (ref.meta.arch === ENSEMBLE_ARCH) {
      learner = new Learner<InferenceModel>(await loadEnsemble(ref.checkpoint, ref.meta, dev), ref.meta, ref, null);
    } else {
      const channelsLast = channelsLastFor(ref.meta.arch, o.device ?? 'cpu', 'inference');
      const { model, meta } = await loadCheckpoint(ref.checkpoint, {
        ...dev,
        ...(channelsLast ? { channelsLast } : {}),
      });
      learner = new Learner<InferenceModel>(model, meta, ref, null);
    }
    learner.lungsOverride = o.lungs;
    learner.device = o.device;
    return learner as LoadedLearner;
  }

  /** A checkpoint folder by path, without run-folder resolution (serve, which verified it). */
  static async loadCheckpointDir(dir: string, o: LoadOptions = {}): Promise<LoadedLearner> {
    return Learner.loadRef({ checkpoint: dir, runDir: null, meta: await readCheckpointMeta(dir) }, o);
  }

  /** A fresh model for `cfg` on `data`: seeded init, pretrained weights, BatchNorm unfolding. */
  static async forTraining(
    cfg: BuildConfig,
    data: RunData,
    o: { log?: (m: string) => void; worker?: boolean } = {},
  ): Promise<Learner> {
    const log = o.log ?? (() => undefined);
    const { device, threads } = cfg.compute;
    checkDevice(device);
    useThreads(threads, o.worker);
    manualSeed(cfg.seed);
    let normalisation: Normalisation | undefined;
    let strideIn1x1 = false;
    if (cfg.pretrained) {
      const meta = (await weightsInfo(cfg.pretrained)).metadata;
      normalisation = metadataNormalisation(meta);
      strideIn1x1 = meta.stride_in_1x1 === 'true'; // Keras' ResNet-50 is v1
    }
    const channelsLast = channelsLastFor(cfg.arch, device, 'train');
    const model = await Model.create({
      arch: cfg.arch,
      numClasses: data.classes.length,
      device,
      ...(normalisation ? { normalisation } : {}),
      ...(strideIn1x1 ? { strideIn1x1 } : {}),
      ...(channelsLast ? { channelsLast } : {}),
    });
    if (cfg.pretrained) {
      const rep = await loadPretrained(model, cfg.pretrained, log);
      log(`pretrained: ${rep.loaded} tensors from ${rep.file}`);
    }
    let unfolded = false;
    const { unfoldBn } = cfg.transfer;
    if (unfoldBn === 'on' || (unfoldBn === 'auto' && cfg.pretrained)) {
      if (unfoldBn === 'on' || isFoldedBatchNorm(await model.state(), batchNormNames(model))) {
        const rep = await unfoldBatchNorm(model, firstBatches(data, 64));
        unfolded = true;
        log(`BatchNorm: unfolded ${rep.layers} folded layers with statistics of ${rep.images} training images`);
      }
    }
    const image: ImagePreprocessing = cfg.preprocessing;
    const meta: LearnerMeta = {
      arch: cfg.arch,
      classes: data.classes,
      positiveClass: data.positiveClass,
      threshold: 0.5,
      preprocessing: { ...image, normalisation: model.spec.normalisation },
    };
    return new Learner(model, meta, null, data, unfolded);
  }

  /** A run's last checkpoint with the run's data, to continue training. */
  static async resume(
    checkpointDir: string,
    cfg: Pick<TrainConfig['compute'], 'device' | 'threads'>,
    data: RunData,
    o: { worker?: boolean } = {},
  ): Promise<Learner> {
    checkDevice(cfg.device);
    useThreads(cfg.threads, o.worker);
    const { model, meta } = await loadCheckpoint(checkpointDir, { device: cfg.device });
    const unfolded = Boolean((meta.training as { unfoldedBatchNorm?: boolean } | undefined)?.unfoldedBatchNorm);
    return new Learner(model, meta, null, data, unfolded);
  }

  /**
   * Trains on this learner's data with `cfg`, writing the run folder cfg.out (checkpoints,
   * history, schedule trace, summary.json); `resume` continues from a run's last checkpoint.
   */
  fit(this: Learner<Model>, cfg: TrainConfig, o: FitOptions = {}): Promise<RunSummary> {
    return fitLearner(this, cfg, o);
  }

  /** The LR range test on this learner's training data; the weights are put back afterwards. */
  async lrFind(this: Learner<Model>, o: LrFindOnModelOptions = {}): Promise<LrFindResult> {
    if (!this.data) throw new Error('lr-find needs training data: build the learner with Learner.forTraining');
    return lrFindOnModel(this.model, this.data.train, o);
  }

  /**
   * The lung segmenter this model crops with: --lungs DIR when given, else the one its folder
   * carries (weights verified), else null; loaded once, on first need.
   */
  lungField(): Promise<LungField | null> {
    if (!this.ref) return Promise.resolve(null);
    const ref = this.ref;
    this.lungs ??= loadModelSegmenter(ref.checkpoint, this.meta, {
      ...(this.lungsOverride ? { override: this.lungsOverride } : {}),
      ...(this.device ? { device: this.device } : {}),
    });
    return this.lungs;
  }

  /** The segmenter, or the one line that says this lung-cropping model has none. */
  async requireLungField(): Promise<LungField> {
    const f = await this.lungField();
    if (!f) throw new Error(NO_SEGMENTER);
    return f;
  }

  /**
   * The manifest as this model reads it: a lung-cropping model gives the rows of `split` (all
   * when absent) that have no lung mask one from its segmenter (the masks `lungs predict` writes,
   * in memory); any other model, or a manifest with every mask, comes back as it is.
   */
  async manifestFor(manifest: Manifest, split?: string | string[] | readonly number[]): Promise<Manifest> {
    if (this.preprocessing.crop !== 'lungs') return manifest;
    // Rows with a mask of their own (lung_mask or masks) keep it, as the loader reads it.
    const missing = rowsOf(manifest, split).filter((i) => !LUNG_MASK_COLUMNS.some((c) => manifest.rows[i]!.extra[c]));
    if (!missing.length) return manifest;
    const f = await this.requireLungField();
    return withLungMasks(f.model, f.meta, manifest, missing);
  }

  /** One image (a file, or one decoded through this model's preprocessing), classified as serve classifies it. */
  async predict(image: string | GrayImage, o: { region?: Region; precision?: Precision } = {}): Promise<Prediction> {
    const gray = typeof image === 'string' ? await this.decode(image, o.region) : image;
    const r = await this.model.predict(this.batchOf(gray.pixels), { precision: o.precision ?? 'fp32' });
    const { classes, positiveClass } = this.meta;
    const probabilities = [...applyCalibration(r.probs, classes.length, positiveClass, calibrationOf(this.meta))];
    // decide reads the classes, the positive class and the threshold, which every learner's meta has.
    return { ...decide(this.meta as CheckpointMeta, probabilities), probabilities };
  }

  /** Writes this learner as a checkpoint folder (model.safetensors + model.json) that Learner.load reads. */
  async save(this: Learner<Model>, dir: string, extra: Partial<CheckpointInput> = {}): Promise<CheckpointMeta> {
    const { format, arch, created, weightsSha256, ...meta } = this.meta as LearnerMeta & Partial<CheckpointMeta>;
    return saveCheckpoint(dir, this.model, { ...meta, ...extra });
  }

  /**
   * Decode an image file exactly as this model's training images were; a lung-cropping model
   * finds the file's lung box with its segmenter unless `region` gives it.
   */
  async decode(file: string, region?: Region): Promise<GrayImage> {
    if (this.preprocessing.crop === 'lungs' && !region) {
      const f = await this.lungField();
      if (!f) throw new Error(`${file}: ${NO_SEGMENTER}`);
      region = await f.regionOfFile(file, this.preprocessing.cropMargin);
    }
    return decodeImage(file, { ...imageOptions(this.preprocessing), ...(region ? { region } : {}) });
  }

  /** One decoded image as a batch of this model's input shape. */
  batchOf(gray: Uint8Array): Batch {
    return imagesBatch([gray], this.preprocessing);
  }

  /** The model over a manifest's rows, through this model's preprocessing (lung masks found where missing). */
  async predictSet(manifest: Manifest, o: PredictSetOptions = {}): Promise<PredictedSet> {
    return predictSet(this.model, this.meta, await this.manifestFor(manifest, o.split), o);
  }

  async *rowsBatches(manifest: Manifest, rowIdx: number[], batch = 8): AsyncGenerator<LoaderBatch> {
    yield* batchesOfRows(await this.manifestFor(manifest, rowIdx), this.meta, rowIdx, batch);
  }
}

/** Row indices of a split (a name, names, or the indices themselves; all rows when absent, '' or 'all'). */
function rowsOf(m: Manifest, split: string | string[] | readonly number[] | undefined): number[] {
  const all = m.rows.map((_, i) => i);
  if (split === undefined || split === '' || split === 'all') return all;
  if (Array.isArray(split) && split.every((x) => typeof x === 'number')) return [...(split as number[])];
  const names = new Set(typeof split === 'string' ? [split] : (split as string[]));
  return all.filter((i) => names.has(m.rows[i]!.split));
}

/** Up to `n` training images in a fixed order (BatchNorm statistics). */
async function* firstBatches(data: RunData, n: number) {
  let seen = 0;
  for await (const b of data.train.epoch(-1)) {
    yield b;
    seen += b.shape[0];
    if (seen >= n) return;
  }
}
