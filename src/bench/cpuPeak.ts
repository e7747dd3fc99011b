// This CPU's theoretical peak, so each bench cell can say how far it is from the physical
// limit: threads × clock × FLOPs per cycle of the widest instruction set the CPU has.
//
// Choices:
// - The clock is /proc/cpuinfo's "cpu MHz" (on this VM the nominal 2.1 GHz; turbo would
//   make the true peak higher and the fractions lower).
// - Two FMA units per core, as on Xeon Scalable Gold/Platinum; some SKUs have one, which
//   halves the peak (CXRTUNE_PEAK_GFLOPS overrides the whole figure).
// - bf16 is measured against AVX512-BF16 (vdpbf16ps: 2 × 32 FLOPs per unit per cycle), the
//   path libtorch 1.13's oneDNN takes for most bf16 kernels; AMX tiles would be 8× that again,
//   so the peak shown for bf16 is a floor, and said to be.
import { readFileSync } from 'node:fs';
import type { Precision } from '../engine/types.js';
import { ISA_LEVELS, cpuFlags, type IsaLevel } from '../engine/isa.js';

interface CpuPeak {
  gflops: number;
  /** How the figure was made, for the printed table. */
  basis: string;
}

interface CpuFacts {
  mhz: number;
  flags: Set<string>;
}

// The flags each level adds to the one below it: held at a level, the kernels use none above.
const LEVEL_FLAGS: [IsaLevel, (f: string) => boolean][] = [
  ['AVX2', (f) => f === 'avx2' || f === 'fma'],
  ['AVX-512', (f) => f.startsWith('avx512') && f !== 'avx512_bf16'],
  ['AVX-512-BF16', (f) => f === 'avx512_bf16'],
  ['AMX', (f) => f.startsWith('amx')],
];

/** The CPU's facts less the flags above the kernels' level (e.g. ONEDNN_MAX_CPU_ISA=AVX2). */
export function effectiveCpuFacts(level: IsaLevel, facts: CpuFacts = cpuFacts()): CpuFacts {
  const rank = ISA_LEVELS.indexOf(level);
  const unused = LEVEL_FLAGS.filter(([l]) => ISA_LEVELS.indexOf(l) > rank).map(([, above]) => above);
  return { mhz: facts.mhz, flags: new Set([...facts.flags].filter((f) => !unused.some((above) => above(f)))) };
}

export function cpuFacts(cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')): CpuFacts {
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1] ?? NaN);
  return { mhz, flags: cpuFlags(cpuinfo) };
}

/** FLOPs per cycle per core for a precision on a CPU with these flags (2 FMA units). */
export function flopsPerCycle(precision: Precision, flags: Set<string>): { perCycle: number; isa: string } {
  const fp32 = flags.has('avx512f')
    ? { perCycle: 2 * 2 * 16, isa: 'AVX-512 FMA' }
    : flags.has('fma')
      ? { perCycle: 2 * 2 * 8, isa: 'AVX2 FMA' }
      : { perCycle: 2 * 4, isa: 'SSE' };
  if (precision === 'bf16' && flags.has('avx512_bf16'))
    return { perCycle: 2 * 2 * 32, isa: flags.has('amx_bf16') ? 'AVX512-BF16 (AMX would be 8× more)' : 'AVX512-BF16' };
  return fp32;
}

export function cpuPeak(precision: Precision, threads: number, facts: CpuFacts = cpuFacts()): CpuPeak | null {
  const override = Number(process.env.CXRTUNE_PEAK_GFLOPS);
  if (override > 0) return { gflops: override, basis: 'CXRTUNE_PEAK_GFLOPS' };
  if (!(facts.mhz > 0)) return null;
  const { perCycle, isa } = flopsPerCycle(precision, facts.flags);
  const gflops = (threads * facts.mhz * perCycle) / 1000;
  return {
    gflops,
    basis: `${threads} core(s) × ${(facts.mhz / 1000).toFixed(2)} GHz × ${perCycle} FLOP/cycle (${isa}, 2 FMA units)`,
  };
}
