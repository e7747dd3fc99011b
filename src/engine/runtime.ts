// Process-wide engine settings: threads (default: physical cores), seed, devices.
import { loadNative, nativeIsa, physicalCoreCount } from './native.js';
import type { IsaInfo } from './isa.js';

export const physicalCores = physicalCoreCount;

export function setThreads(n: number = physicalCores()): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer (got ${n})`);
  loadNative().setThreads(n);
}
export function getThreads(): number {
  return loadNative().getThreads();
}

export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer (got ${seed})`);
  loadNative().manualSeed(seed);
}

interface DeviceInfo {
  torch: string;
  cuda: boolean;
  cudaDevices: number;
  devices: string[];
  /** The CPU kernels' instruction set (engine/isa.ts). */
  isa: IsaInfo;
  /** The precision the demo (and `lungs predict`) pick on this CPU. */
  defaultPrecision: 'fp32' | 'bf16';
  /** The cap of the CPU allocator's cache of freed blocks, in bytes (CXRTUNE_CPU_CACHE_MB; 0: off). */
  cpuCacheBytes: number;
  /** What runs fp32 CPU inference convolutions: oneDNN called directly, or libtorch's prepacked op. */
  inferenceConv: 'onednn' | 'mkldnn_prepacked';
}

/** What this libtorch and machine offer. */
export function deviceInfo(): DeviceInfo {
  const i = loadNative().info();
  return {
    torch: i.torch,
    cuda: i.cuda,
    cudaDevices: i.cudaDevices,
    devices: ['cpu', ...Array.from({ length: i.cudaDevices }, (_, k) => `cuda:${k}`)],
    isa: cpuIsa(),
    defaultPrecision: cpuIsa().fastBf16 ? 'bf16' : 'fp32',
    cpuCacheBytes: i.cpuCacheBytes,
    inferenceConv: i.inferenceConv,
  };
}

/** The instruction set the engine's CPU kernels run at (oneDNN's, capped as its environment says). */
export const cpuIsa: () => IsaInfo = nativeIsa;

/** bf16 runs on any x86 CPU, but is fast only where oneDNN has bf16 kernels (AVX512-BF16 or AMX). */
export function cpuHasBf16(): boolean {
  return cpuIsa().fastBf16;
}

export function checkDevice(device: string): void {
  if (device === 'cpu') return;
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw new Error(`unknown device '${device}' (cpu or cuda:N)`);
  const info = deviceInfo();
  if (!info.cuda)
    throw new Error(
      `device ${device} asked for, but this libtorch (${info.torch}) has no CUDA or sees no GPU; build with ` +
        `LIBTORCH=/path/to/cuda-libtorch`,
    );
  if (Number(m[1] ?? 0) >= info.cudaDevices)
    throw new Error(`device ${device} does not exist (${info.cudaDevices} GPU(s))`);
}
