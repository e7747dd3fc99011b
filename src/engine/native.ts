// Loads the libtorch addon (native/build/Release/cxrtune.node) once, with a clear
// message when it has not been built.
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isaInfo, type IsaInfo } from './isa.js';

/** One entry per op call of libtorch's op profiler; parallel arrays as the addon returns them. */
export interface OpEvents {
  name: string[];
  startUs: ArrayLike<number>;
  durationUs: ArrayLike<number>;
  flops: ArrayLike<number>;
  thread: ArrayLike<number>;
}

export interface NativeTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}
/** A batch as the addon takes it; the normalisation is always given (no native default). */
export interface NativeInput {
  pixels: Uint8Array | Float32Array;
  shape: number[];
  mean: number[];
  std: number[];
}
export interface NativeModelSpec {
  arch: string;
  numClasses: number;
  device: string;
  dropout?: number;
  strideIn1x1?: boolean;
  channelsLast?: boolean;
}
/**
 * The addon's model (native/src/model.cc). Every field shown is required: the addon has
 * no defaults and trusts engine/model.ts to have validated the request, checking only
 * what protects memory (byte lengths, indices). The synchronous calls never wait for a
 * running task; what they set applies from the next call on.
 */
export interface NativeModel {
  entries(): { name: string; shape: number[]; kind: 'param' | 'buffer'; trainable: boolean }[];
  modules(): { name: string; kind: 'conv' | 'bn' | 'linear'; params: number[] }[];
  /** Block names, input → output (the default Grad-CAM layer is the family's: engine/models). */
  blocks(): { blocks: string[] };
  getState(): Promise<NativeTensor[]>;
  setState(t: NativeTensor[]): Promise<void>;
  configureOptimizer(cfg: { kind: string; groups: number[][]; nesterov: boolean; beta2: number; eps: number }): void;
  /** Classifier: labels and class weights (cross-entropy); segmenter: 0/1 masks [N, H, W] (Dice + BCE). */
  trainStep(
    req: NativeInput & {
      hyper: { lr: number; momentum: number; weightDecay: number }[];
      precision: string;
      lossScale: number;
    } & ({ labels: Int32Array; classWeights: number[] } | { masks: Uint8Array }),
  ): Promise<{ loss: number; overflow: boolean; probs: Float32Array }>;
  predict(req: NativeInput & { precision: string }): Promise<{ logits: Float32Array }>;
  /** A block's activations and the gradient of Σ logit[classIndex] w.r.t. them, [N, C, h, w]. */
  layerGradients(req: NativeInput & { classIndex: number; layer: string }): Promise<{
    activations: Float32Array;
    gradients: Float32Array;
    shape: number[];
    logits: Float32Array;
    layer: string;
  }>;
  features(
    req: NativeInput & { layer: string },
  ): Promise<{ features: Float32Array; shape: number[]; logits: Float32Array; layer: string }>;
  setTrainable(indices: number[], trainable: boolean): void;
  setBatchNormMode(mode: string): void;
  getOptimizerState(): Promise<NativeTensor[]>;
  setOptimizerState(t: NativeTensor[]): Promise<void>;
  bnInputStats(req: NativeInput): Promise<{ name: string; mean: Float32Array; var: Float32Array }[]>;
}
export interface NativeAddon {
  NativeModel: new (spec: NativeModelSpec) => NativeModel;
  setThreads(n: number): void;
  getThreads(): number;
  manualSeed(seed: number): void;
  info(): {
    torch: string;
    cuda: boolean;
    cudaDevices: number;
    threads: number;
    mkldnn: boolean;
    parallel: string;
    /** oneDNN's effective dnnl_cpu_isa_t, -1 where libtorch hides oneDNN. */
    onednnIsa: number;
    atenCapability: string;
  };
  /** false: bf16/fp16 CPU calls run on libtorch's own kernels, not oneDNN (engine/isa.ts). */
  setLowPrecisionOneDnn(on: boolean): void;
  profileStart(): Promise<void>;
  /** libtorch's operator events (native/src/profiler.cc), as Float64Arrays; engine/profiler.ts wraps them. */
  profileStop(): Promise<OpEvents>;
}

let addon: NativeAddon | undefined;
let isa: IsaInfo | undefined;

export function loadNative(): NativeAddon {
  if (addon) return addon;
  const path = join(projectRoot(), 'native', 'build', 'Release', 'cxrtune.node');
  if (!existsSync(path)) {
    throw new Error(`the libtorch addon is not built (${path} is missing): run \`npm run bootstrap\``);
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  // Default: one intra-op thread per physical core (CXRTUNE_THREADS overrides).
  const env = Number(process.env.CXRTUNE_THREADS);
  addon.setThreads(Number.isInteger(env) && env > 0 ? env : physicalCoreCount());
  // libtorch reads its ISA caps once, at load: the level holds for the process. Without oneDNN
  // bf16 kernels, low-precision calls take libtorch's own (engine/isa.ts).
  isa = isaInfo(addon.info());
  addon.setLowPrecisionOneDnn(isa.fastBf16);
  return addon;
}

/** The instruction set the CPU kernels run at (engine/isa.ts), read once when the addon loads. */
export function nativeIsa(): IsaInfo {
  loadNative();
  return isa!;
}

/** The package root (works from src/ under tsx and from dist/ once compiled). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'native', 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the cxrtune package root');
    dir = up;
  }
  return dir;
}

/** Physical cores (hyper-threads share a core's FPUs, so more threads rarely help). */
export function physicalCoreCount(): number {
  try {
    const seen = new Set<string>();
    for (const d of readdirSync('/sys/devices/system/cpu')) {
      if (!/^cpu\d+$/.test(d)) continue;
      try {
        seen.add(readFileSync(`/sys/devices/system/cpu/${d}/topology/thread_siblings_list`, 'utf8').trim());
      } catch {
        /* offline cpu */
      }
    }
    if (seen.size) return seen.size;
  } catch {
    /* not Linux */
  }
  return availableParallelism();
}
