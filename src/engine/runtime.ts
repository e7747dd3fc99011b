// Process-wide engine settings: threads (default: physical cores), seed, devices.
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadNative } from './native.js';

/** Physical cores (hyper-threads share a core's FPUs, so more threads rarely help). */
export function physicalCores(): number {
  try {
    const seen = new Set<string>();
    for (const d of readdirSync('/sys/devices/system/cpu')) {
      if (!/^cpu\d+$/.test(d)) continue;
      try {
        seen.add(readFileSync(`/sys/devices/system/cpu/${d}/topology/thread_siblings_list`, 'utf8').trim());
      } catch { /* offline cpu */ }
    }
    if (seen.size) return seen.size;
  } catch { /* not Linux */ }
  return availableParallelism();
}

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
