// The instruction set the engine's kernels run at, and whether bf16 is fast there.
//
// Choices:
// - The level is oneDNN's effective ISA (convolutions, matmuls: most of the time of a
//   step): the CPU's best, capped by ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA. ATen's own
//   kernel level (ATEN_CPU_CAPABILITY: elementwise ops, reductions, BatchNorm) is
//   reported beside it; the two are chosen separately and can differ on one CPU.
// - Where libtorch hides oneDNN (pytorch.org's builds), the level comes from the CPU's
//   flags in /proc/cpuinfo.
// - bf16 is fast only where oneDNN has bf16 kernels (AVX512-BF16 or AMX). Elsewhere a
//   bf16 call runs on libtorch's reference kernels, many times slower than fp32 (the
//   demo and `lungs predict` choose fp32 there), and is sent off oneDNN, where libtorch
//   1.13 would otherwise fail on a capped ISA (native/src/step.cc).
import { readFileSync } from 'node:fs';

export type IsaLevel = 'default' | 'AVX2' | 'AVX-512' | 'AVX-512-BF16' | 'AMX';
export const ISA_LEVELS: readonly IsaLevel[] = ['default', 'AVX2', 'AVX-512', 'AVX-512-BF16', 'AMX'];

export interface IsaInfo {
  level: IsaLevel;
  /** Where the level was read: oneDNN's effective ISA, or the CPU flags. */
  from: 'oneDNN' | 'cpuinfo';
  /** ATen's kernel level as libtorch states it ('AVX2', 'AVX512', 'NO AVX'; '' unknown). */
  aten: string;
  /** bf16 has native kernels here (AVX512-BF16 or AMX). */
  fastBf16: boolean;
}

// dnnl_cpu_isa_t is a set of feature bits (oneDNN 2.x): avx2 0x7, avx512_core 0x27,
// avx512_core_vnni 0x67, avx512_core_bf16 0xe7, avx512_core_amx 0x3e7.
const AVX2 = 0x4,
  AVX512_CORE = 0x20,
  BF16 = 0x80,
  AMX = 0x300;

/** The level a dnnl_cpu_isa_t value stands for. */
export function levelOfOneDnnIsa(isa: number): IsaLevel {
  if ((isa & AMX) === AMX) return 'AMX';
  if (isa & BF16) return 'AVX-512-BF16';
  if (isa & AVX512_CORE) return 'AVX-512';
  if (isa & AVX2) return 'AVX2';
  return 'default';
}

/** The level a CPU's /proc/cpuinfo flags allow. */
export function levelOfFlags(flags: Set<string>): IsaLevel {
  if (flags.has('amx_bf16') && flags.has('amx_tile')) return 'AMX';
  if (flags.has('avx512_bf16')) return 'AVX-512-BF16';
  if (['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every((f) => flags.has(f))) return 'AVX-512';
  if (flags.has('avx2') && flags.has('fma')) return 'AVX2';
  return 'default';
}

export function cpuFlags(cpuinfo?: string): Set<string> {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  return new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/).filter(Boolean));
}

/** From the addon's info(): onednnIsa (-1 when oneDNN is not visible) and atenCapability. */
export function isaInfo(native: { onednnIsa: number; atenCapability: string }, flags?: Set<string>): IsaInfo {
  const known = native.onednnIsa >= 0;
  const level = known ? levelOfOneDnnIsa(native.onednnIsa) : levelOfFlags(flags ?? cpuFlags());
  return {
    level,
    from: known ? 'oneDNN' : 'cpuinfo',
    aten: native.atenCapability,
    fastBf16: level === 'AVX-512-BF16' || level === 'AMX',
  };
}
