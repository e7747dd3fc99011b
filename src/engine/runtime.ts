// Process-wide engine settings: threads (default: physical cores), seed, devices.
import { readFileSync } from 'node:fs';
import { loadNative, physicalCoreCount } from './native.js';

export const physicalCores = physicalCoreCount;

export function setThreads(n: number = physicalCores()): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer (got ${n})`);
  loadNative().setThreads(n);
}
export function getThreads(): number { return loadNative().getThreads(); }

export function manualSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer (got ${seed})`);
  loadNative().manualSeed(seed);
}

export interface DeviceInfo { torch: string; cuda: boolean; cudaDevices: number; devices: string[]; bf16Cpu: boolean }

/** What this libtorch and machine offer. */
export function deviceInfo(): DeviceInfo {
  const i = loadNative().info();
  return {
    torch: i.torch, cuda: i.cuda, cudaDevices: i.cudaDevices,
    devices: ['cpu', ...Array.from({ length: i.cudaDevices }, (_, k) => `cuda:${k}`)],
    bf16Cpu: cpuHasBf16(),
  };
}

/** bf16 runs on any x86 CPU, but is fast only with AVX512-BF16 or AMX. */
export function cpuHasBf16(): boolean {
  try {
    return /\b(avx512_bf16|amx_bf16)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

export function checkDevice(device: string): void {
  if (device === 'cpu') return;
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw new Error(`unknown device '${device}' (cpu or cuda:N)`);
  const info = deviceInfo();
  if (!info.cuda) throw new Error(`device ${device} asked for, but this libtorch (${info.torch}) has no CUDA or sees no GPU; build with LIBTORCH=/path/to/cuda-libtorch`);
  if (Number(m[1] ?? 0) >= info.cudaDevices) throw new Error(`device ${device} does not exist (${info.cudaDevices} GPU(s))`);
}
