// Data parallelism over torch.distributed's c10d (the addon's TCPStore + ProcessGroupGloo):
// one process group per process, joined the way torchrun's workers join theirs (RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT). The native side only runs collectives; what to
// broadcast, reduce or gather is decided here and in app/.
import { loadNative } from './native.js';
import type { Model } from './model.js';
import type { HostTensor, TensorMap } from './types.js';

export type Backend = 'gloo' | 'nccl';

interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

interface DistNative {
  initProcessGroup(o: {
    masterAddr: string;
    masterPort: number;
    rank: number;
    worldSize: number;
    timeoutMs: number;
    backend: string;
    hostStore: boolean;
    socketInterface: string;
    glooThreads: number;
    heartbeatMs: number;
    heartbeatSilenceMs: number;
    heartbeatStoreTimeoutMs: number;
  }): Promise<{ rank: number; worldSize: number; backend: string }>;
  destroyProcessGroup(): Promise<void>;
  allReduce(a: Float32Array | Float64Array | Int32Array, op?: 'sum' | 'max' | 'min'): Promise<void>;
  broadcast(a: Float32Array | Float64Array | Int32Array | Uint8Array, root?: number): Promise<void>;
  barrier(): Promise<void>;
  setGradSync(on: boolean, bucketMB: number): Promise<void>;
  setSyncBatchNorm(on: boolean): Promise<void>;
  distInfo(): { available: boolean; rank?: number; worldSize?: number };
}

const native = () => loadNative() as unknown as DistNative;

/** torchrun's variables, or null when this process is not one of several (WORLD_SIZE unset or 1). */
export function distEnvFrom(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const int = (k: string, def?: number): number => {
    const v = env[k];
    if (v === undefined || v === '') {
      if (def !== undefined) return def;
      throw new Error(
        `WORLD_SIZE is set, so ${k} must be too (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)`,
      );
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${k}='${v}' is not a non-negative integer`);
    return n;
  };
  const worldSize = int('WORLD_SIZE');
  if (worldSize <= 1) return null;
  const rank = int('RANK');
  if (rank >= worldSize) throw new Error(`RANK=${rank} must be below WORLD_SIZE=${worldSize}`);
  const masterPort = int('MASTER_PORT', 29500);
  if (masterPort < 1 || masterPort > 65535) throw new Error(`MASTER_PORT=${masterPort} is not a TCP port`);
  return {
    rank,
    worldSize,
    localRank: int('LOCAL_RANK', rank),
    masterAddr: env.MASTER_ADDR || '127.0.0.1',
    masterPort,
  };
}

interface ProcessGroupOptions extends DistEnv {
  backend?: Backend;
  /** Every collective fails after this long without progress (default 300 s, as torch's). */
  timeoutMs?: number;
  glooThreads?: number;
  heartbeatMs?: number;
  heartbeatSilenceMs?: number;
  heartbeatStoreTimeoutMs?: number;
}

/** The group's timings and Gloo's threads, when not given (native/src/distributed.cc has none). */
export const PROCESS_GROUP_DEFAULTS = {
  /** Every collective fails after this long without progress (as torch's). */
  timeoutMs: 300_000,
  /** Gloo's worker threads per process. */
  glooThreads: 2,
  /** Each rank bumps its heartbeat counter in the store this often... */
  heartbeatMs: 500,
  /** ...and, when a collective fails, a rank whose counter did not move for this long is named as stopped. */
  heartbeatSilenceMs: 2500,
  /** The heartbeat's own store connection gives up after this long. */
  heartbeatStoreTimeoutMs: 5000,
} as const;

/** The process's group (torch's default group); one per process. */
export class ProcessGroup {
  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    readonly backend: Backend,
  ) {}

  static async init(o: ProcessGroupOptions): Promise<ProcessGroup> {
    const backend = o.backend ?? 'gloo';
    if (backend !== 'gloo' && backend !== 'nccl') throw new Error(`unknown backend '${backend}' (gloo or nccl)`);
    const n = native();
    if (typeof n.distInfo !== 'function' || !n.distInfo().available) {
      throw new Error(
        'this build of the addon has no c10d Gloo: install libgloo-dev and run node scripts/build-native.mjs',
      );
    }
    const d = PROCESS_GROUP_DEFAULTS;
    const timing = {
      timeoutMs: o.timeoutMs ?? d.timeoutMs,
      glooThreads: o.glooThreads ?? d.glooThreads,
      heartbeatMs: o.heartbeatMs ?? d.heartbeatMs,
      heartbeatSilenceMs: o.heartbeatSilenceMs ?? d.heartbeatSilenceMs,
      heartbeatStoreTimeoutMs: o.heartbeatStoreTimeoutMs ?? d.heartbeatStoreTimeoutMs,
    };
    if (!(timing.timeoutMs >= 1000 && Number.isFinite(timing.timeoutMs)))
      throw new Error(`the collective timeout must be at least 1000 ms (got ${timing.timeoutMs})`);
    if (!(Number.isInteger(timing.glooThreads) && timing.glooThreads >= 1))
      throw new Error(`glooThreads must be a positive integer (got ${timing.glooThreads})`);
    for (const k of ['heartbeatMs', 'heartbeatSilenceMs', 'heartbeatStoreTimeoutMs'] as const) {
      const v = timing[k];
      if (!(Number.isInteger(v) && v >= 1 && v <= 86_400_000))
        throw new Error(`${k} must be a whole number of ms in 1..86400000 (got ${v})`);
    }
    const r = await n.initProcessGroup({
      masterAddr: o.masterAddr,
      masterPort: o.masterPort,
      rank: o.rank,
      worldSize: o.worldSize,
      ...timing,
      backend,
      // Rank 0 hosts the TCPStore (torch's env://) unless torchrun ≥ 2.0's agent already does.
      hostStore: o.rank === 0 && process.env.TORCHELASTIC_USE_AGENT_STORE !== 'True',
      // As torch: GLOO_SOCKET_IFNAME picks the network interface ('' = from the address).
      socketInterface: process.env.GLOO_SOCKET_IFNAME ?? '',
    });
    return new ProcessGroup(r.rank, r.worldSize, backend);
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  allReduce<T extends Float32Array | Float64Array | Int32Array>(a: T, op: 'sum' | 'max' | 'min' = 'sum'): Promise<T> {
    return native()
      .allReduce(a, op)
      .then(() => a);
  }

  broadcast<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(a: T, root = 0): Promise<T> {
    return native()
      .broadcast(a, root)
      .then(() => a);
  }

  barrier(): Promise<void> {
    return native().barrier();
  }

  /** Gradients averaged over the group inside every trainStep (bucketed like DDP's 25 MB). */
  setGradSync(on: boolean, bucketMB = 25): Promise<void> {
    return native().setGradSync(on, bucketMB);
  }

  /**
   * SyncBatchNorm (torch.nn.SyncBatchNorm): training-mode BatchNorm normalises with the mean and
   * variance of the whole global batch, all ranks together, and updates the running statistics
   * from them — so they stay equal on every rank. Costs two small all-reduces per BatchNorm per
   * step (forward, backward). Eval and frozen BatchNorm are unaffected.
   */
  setSyncBatchNorm(on: boolean): Promise<void> {
    return native().setSyncBatchNorm(on);
  }

  destroy(): Promise<void> {
    return native().destroyProcessGroup();
  }

  /** Sums of a few numbers over all ranks (float64). */
  async sum(xs: number[]): Promise<number[]> {
    return Array.from(await this.allReduce(Float64Array.from(xs)));
  }

  /**
   * Every rank's rows, concatenated in rank order, on every rank (an all-gather of
   * variable length: counts first, then one sum over a zero-padded buffer).
   */
  async gather(probs: Float64Array, labels: Int32Array): Promise<{ probs: Float64Array; labels: Int32Array }> {
    const k = labels.length ? probs.length / labels.length : 0;
    const counts = new Float64Array(this.worldSize * 2);
    counts[this.rank] = labels.length;
    counts[this.worldSize + this.rank] = k;
    await this.allReduce(counts);
    const width = Math.max(...Array.from(counts.subarray(this.worldSize)));
    const total = Array.from(counts.subarray(0, this.worldSize)).reduce((a, b) => a + b, 0);
    const offset = Array.from(counts.subarray(0, this.rank)).reduce((a, b) => a + b, 0);
    const p = new Float64Array(total * width);
    const l = new Int32Array(total);
    p.set(probs, offset * width);
    l.set(labels, offset);
    await this.allReduce(p);
    await this.allReduce(l);
    return { probs: p, labels: l };
  }

  /**
   * Rank 0's parameters and buffers into every rank's model (DDP does this at construction);
   * `buffersOnly`: just the buffers — BatchNorm running statistics, which each rank updates
   * from its own batches (DDP broadcasts them before every forward).
   */
  async broadcastModel(model: Model, opts: { buffersOnly?: boolean } = {}): Promise<void> {
    const state = await model.state();
    const buffers = new Set(
      model
        .parameters()
        .filter((p) => p.kind === 'buffer')
        .map((p) => p.name),
    );
    const names = [...state.keys()].filter((n) => !opts.buffersOnly || buffers.has(n)).sort();
    const bytes = names.reduce((a, n) => a + state.get(n)!.data.byteLength, 0);
    const flat = new Uint8Array(bytes);
    let off = 0;
    for (const n of names) {
      flat.set(state.get(n)!.data, off);
      off += state.get(n)!.data.byteLength;
    }
    await this.broadcast(flat, 0);
    if (this.rank === 0) return;
    const out: TensorMap = new Map();
    off = 0;
    for (const n of names) {
      const t = state.get(n)!;
      const data = flat.slice(off, off + t.data.byteLength);
      off += t.data.byteLength;
      out.set(n, { dtype: t.dtype, shape: t.shape, data } satisfies HostTensor);
    }
    await model.loadState(out, { strict: !opts.buffersOnly });
  }
}

/** The CPU threads a worker takes by default: the cores split between the local workers (LOCAL_WORLD_SIZE). */
export function workerThreads(cores: number, env: NodeJS.ProcessEnv = process.env): number {
  const local = Number(env.LOCAL_WORLD_SIZE);
  return Math.max(1, Math.floor(cores / (Number.isInteger(local) && local > 1 ? local : 1)));
}
