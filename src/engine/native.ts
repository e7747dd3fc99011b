// Loads the libtorch addon (native/build/Release/cxrtune.node) once, with a clear
// message when it has not been built, and gives it its process-wide settings from the
// environment (the addon reads none): malloc arenas, the CPU block cache, threads, oneDNN.
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isaInfo, type IsaInfo } from './isa.js';
import type { CrossEntropyLoss, DiceBceLoss } from './types.js';

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
  /** A segmenter's U-Net decoder (arch unet_*). */
  decoderChannels?: number[];
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
  /**
   * The loss the request names: cross-entropy on labels with class weights, or Dice + BCE on 0/1 masks [N, H, W].
   * `finite`: the loss and every gradient (all ranks' when averaged) were finite; when they were not,
   * the optimizer step is skipped only if `skipNonFinite` says so.
   */
  trainStep(
    req: NativeInput & {
      hyper: { lr: number; momentum: number; weightDecay: number }[];
      precision: string;
      lossScale: number;
      skipNonFinite: boolean;
    } & (
        | { loss: CrossEntropyLoss; labels: Int32Array; classWeights: number[] }
        | { loss: DiceBceLoss; masks: Uint8Array }
      ),
  ): Promise<{ loss: number; finite: boolean; probs: Float32Array }>;
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
    /**
     * What runs fp32 CPU inference convolutions (native/src/eval_weights.h): oneDNN called directly
     * where the addon was built with its headers, else libtorch's prepacked op.
     */
    inferenceConv: 'onednn' | 'mkldnn_prepacked';
    /** The CPU allocator's block cache cap in bytes (0: off), as configureCpuCache set it. */
    cpuCacheBytes: number;
  };
  /** Caps the CPU allocator's cache of freed blocks of 1 MiB and more (native/src/cpu_block_cache.h); 0: off. */
  configureCpuCache(bytes: number): void;
  /** mallopt(M_ARENA_MAX, n); false where glibc has no such setting. */
  setMallocArenaMax(n: number): boolean;
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
  // Before any tensor and before the first task starts the compute thread, or neither takes effect
  // for it. One malloc arena for the threads started from now on, as a Python process's tensors
  // share the main one; glibc itself reads MALLOC_ARENA_MAX when it is set.
  if (process.env.MALLOC_ARENA_MAX === undefined) addon.setMallocArenaMax(1);
  addon.configureCpuCache(cpuCacheBytes());
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

const MiB = 2 ** 20;

/**
 * The cap of the addon's cache of freed CPU blocks (native/src/cpu_block_cache.h: without it the
 * compute thread's glibc arena unmaps them and every step page-faults its activations back in):
 * CXRTUNE_CPU_CACHE_MB, else a quarter of physical memory, at most 8 GiB. 0 turns the cache off.
 */
export function cpuCacheBytes(env: NodeJS.ProcessEnv = process.env, physicalBytes: number = totalmem()): number {
  const v = env.CXRTUNE_CPU_CACHE_MB?.trim();
  if (v) {
    const bytes = Number(v) * MiB;
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(bytes))
      throw new Error(`CXRTUNE_CPU_CACHE_MB='${v}' is not a whole number of MiB (0 turns the cache off)`);
    return bytes;
  }
  return Math.min(Math.floor(physicalBytes / 4), 8192 * MiB);
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

/** cxrtune's version (package.json). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
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
