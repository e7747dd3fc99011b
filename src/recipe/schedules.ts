// Per-iteration learning-rate and momentum schedules: pure functions of step t of T.
//
// Conventions (the paper's eq. 5 and Algorithm 1 are garbled, so these are our choices):
// - Steps are t = 0 … T-1 and the run's position is p = t / (T-1) (p = 0 when T = 1), so the
//   first step gets the start value and the last step gets the end value exactly. (fastai uses
//   t / T, which never reaches the end value.)
// - Every schedule has a *level* in [0, 1]: 0 at rest (α_min), 1 at the peak (α_max). Momentum
//   is a function of the level only, so it returns to its rest value at the end of a cycle even
//   when the LR anneals below α_min:
//     inverse (Smith, fastai; default): m = m_max − (m_max − m_min)·level
//     with    (Algorithm 1 as printed):  m = m_min + (m_max − m_min)·level
// - Momentum means SGD momentum or Adam/AdamW β1.
// - `constant` holds one rate; its α_min is the given lrMin when that is below it, so
//   discriminative groups still spread from α_min (stem) to the constant rate (head) — the
//   paper's "discriminative at a constant rate" ablation. Without an lrMin below the rate (the
//   traditional baseline sets lrMin = lrMax), every group gets the rate.

import { createRng } from '../util/rng.js';

export const SCHEDULE_KINDS = ['oneCycle', 'paperCycle', 'triangular', 'constant'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];
export type MomentumMode = 'inverse' | 'with';
type TriangularMode = 'triangular' | 'triangular2' | 'exp_range';

/** Plain, JSON-able schedule configuration (what config.json stores). */
interface ScheduleConfig {
  kind: ScheduleKind;
  /** Number of optimizer steps in the whole run (T). */
  totalSteps: number;
  /** α_min: start LR of the cycle (and group 0's LR in discriminative fine-tuning). */
  lrMin?: number;
  /** α_max: peak LR. For `constant`, the LR when `lr` is not given. */
  lrMax?: number;
  /** oneCycle/paperCycle: LR at the last step. Default: lrMin (the DESIGN's "anneal back"). */
  lrEnd?: number;
  /** Momentum range; defaults 0.85 / 0.95 (fastai). */
  momMin?: number;
  momMax?: number;
  momentumMode?: MomentumMode;
  /** Warm-up fraction of T. oneCycle default 0.25 (fastai); paperCycle: drawn from the seed if absent. */
  pct?: number;
  /** paperCycle: draws pct uniformly from [0.5, 1) when pct is not given. */
  seed?: number;
  /** triangular: half-cycle length in steps. Default (T-1)/(2·cycles). */
  stepSize?: number;
  /** triangular: number of full cycles when stepSize is not given. Default 1. */
  cycles?: number;
  /** triangular: Smith 2017's policies. Default 'triangular'. */
  triangularMode?: TriangularMode;
  /** triangular exp_range: amplitude × gamma^t. */
  gamma?: number;
  /** constant: the LR (default lrMax) and momentum (default momMax); lrMin below it spreads discriminative groups. */
  lr?: number;
  momentum?: number;
}

type Phase = 'warmup' | 'anneal' | 'up' | 'down' | 'constant';

export interface ScheduleDescription {
  kind: ScheduleKind;
  totalSteps: number;
  lrMin: number;
  lrMax: number;
  lrEnd: number;
  momMin: number;
  momMax: number;
  momentumMode: MomentumMode;
  /** Warm-up fraction actually used (oneCycle, paperCycle). */
  pct?: number;
  /** Where pct came from: the default, the config, or drawn from the seed. */
  pctSource?: 'default' | 'given' | 'seed';
  seed?: number;
  /** Step at which the LR peaks (oneCycle, paperCycle). */
  peakStep?: number;
  shape?: 'cosine' | 'linear' | 'triangular';
  stepSize?: number;
  triangularMode?: TriangularMode;
  gamma?: number;
}

export interface Schedule {
  readonly kind: ScheduleKind;
  readonly totalSteps: number;
  /** α_min (for constant: lrMin when given below the rate, else the rate). */
  readonly lrMin: number;
  lr(t: number): number;
  momentum(t: number): number;
  /** 0 at rest (α_min), 1 at the peak. */
  level(t: number): number;
  phase(t: number): Phase;
  describe(): ScheduleDescription;
}

const DEFAULT_MOM_MIN = 0.85;
const DEFAULT_MOM_MAX = 0.95;
const DEFAULT_ONECYCLE_PCT = 0.25;

/** Build a schedule from a plain config; throws an Error naming the bad field. */
export function createSchedule(cfg: ScheduleConfig): Schedule {
  if (cfg === null || typeof cfg !== 'object') throw new Error('schedule: config must be an object');
  if (!SCHEDULE_KINDS.includes(cfg.kind)) {
    throw new Error(`schedule: kind must be one of ${SCHEDULE_KINDS.join(', ')}; got ${JSON.stringify(cfg.kind)}`);
  }
  const T = cfg.totalSteps;
  if (!Number.isInteger(T) || T < 1) {
    throw new Error(`schedule: totalSteps must be a positive integer, got ${T}`);
  }
  switch (cfg.kind) {
    case 'constant':
      return makeConstant(cfg);
    case 'oneCycle':
      return makeCycle(cfg, 'cosine');
    case 'paperCycle':
      return makeCycle(cfg, 'linear');
    case 'triangular':
      return makeTriangular(cfg);
  }
}

/** Convenience constructors (same validation as createSchedule). */
export const oneCycle = (cfg: Omit<ScheduleConfig, 'kind'>) => createSchedule({ ...cfg, kind: 'oneCycle' });
export const paperCycle = (cfg: Omit<ScheduleConfig, 'kind'>) => createSchedule({ ...cfg, kind: 'paperCycle' });
export const triangular = (cfg: Omit<ScheduleConfig, 'kind'>) => createSchedule({ ...cfg, kind: 'triangular' });
export const constant = (cfg: Omit<ScheduleConfig, 'kind'>) => createSchedule({ ...cfg, kind: 'constant' });

/**
 * Draw Algorithm 1's warm-up fraction: uniform in [0.5, 1) from the seed. Exposed so a
 * run can record and show the value it will use before training starts.
 */
export function drawPct(seed: number): number {
  const u = createRng(seed).next();
  return 0.5 + 0.5 * u;
}

// ---------------------------------------------------------------------------------------

function makeConstant(cfg: ScheduleConfig): Schedule {
  const lr = cfg.lr ?? cfg.lrMax;
  const mom = cfg.momentum ?? cfg.momMax;
  if (lr === undefined) throw new Error('schedule constant: give lr (or lrMax)');
  if (mom === undefined) throw new Error('schedule constant: give momentum (or momMax)');
  num('lr', lr, 0, Infinity, { minOpen: true });
  num('momentum', mom, 0, 1, { maxOpen: true });
  const T = cfg.totalSteps;
  const floor = cfg.lrMin !== undefined && cfg.lrMin > 0 && cfg.lrMin < lr ? cfg.lrMin : lr;
  return {
    kind: 'constant',
    totalSteps: T,
    lrMin: floor,
    lr: (t) => {
      checkT(t, T);
      return lr;
    },
    momentum: (t) => {
      checkT(t, T);
      return mom;
    },
    level: (t) => {
      checkT(t, T);
      return 1;
    },
    phase: (t) => {
      checkT(t, T);
      return 'constant';
    },
    describe: () => ({
      kind: 'constant',
      totalSteps: T,
      lrMin: floor,
      lrMax: lr,
      lrEnd: lr,
      momMin: mom,
      momMax: mom,
      momentumMode: cfg.momentumMode ?? 'inverse',
    }),
  };
}

interface Common {
  T: number;
  lrMin: number;
  lrMax: number;
  momMin: number;
  momMax: number;
  mode: MomentumMode;
}

function common(cfg: ScheduleConfig): Common {
  const name = `schedule ${cfg.kind}`;
  if (cfg.lrMin === undefined) throw new Error(`${name}: lrMin is required`);
  if (cfg.lrMax === undefined) throw new Error(`${name}: lrMax is required`);
  num('lrMin', cfg.lrMin, 0, Infinity, { prefix: name });
  num('lrMax', cfg.lrMax, 0, Infinity, { minOpen: true, prefix: name });
  if (cfg.lrMax < cfg.lrMin) {
    throw new Error(`${name}: lrMax (${cfg.lrMax}) must be >= lrMin (${cfg.lrMin})`);
  }
  const momMin = cfg.momMin ?? DEFAULT_MOM_MIN;
  const momMax = cfg.momMax ?? DEFAULT_MOM_MAX;
  num('momMin', momMin, 0, 1, { maxOpen: true, prefix: name });
  num('momMax', momMax, 0, 1, { maxOpen: true, prefix: name });
  if (momMax < momMin) throw new Error(`${name}: momMax (${momMax}) must be >= momMin (${momMin})`);
  const mode = cfg.momentumMode ?? 'inverse';
  if (mode !== 'inverse' && mode !== 'with') {
    throw new Error(`${name}: momentumMode must be 'inverse' or 'with', got ${JSON.stringify(mode)}`);
  }
  return { T: cfg.totalSteps, lrMin: cfg.lrMin, lrMax: cfg.lrMax, momMin, momMax, mode };
}

function momentumAt(c: Common, level: number): number {
  return c.mode === 'inverse' ? c.momMax - (c.momMax - c.momMin) * level : c.momMin + (c.momMax - c.momMin) * level;
}

/** oneCycle (cosine both ways) and paperCycle (linear both ways): warm-up then anneal. */
function makeCycle(cfg: ScheduleConfig, shape: 'cosine' | 'linear'): Schedule {
  const c = common(cfg);
  const name = `schedule ${cfg.kind}`;
  let pct: number;
  let pctSource: 'default' | 'given' | 'seed';
  if (cfg.pct !== undefined) {
    // A given pct may be any fraction in (0, 1); only the drawn one is restricted to [0.5, 1).
    num('pct', cfg.pct, 0, 1, { minOpen: true, maxOpen: true, prefix: name });
    pct = cfg.pct;
    pctSource = 'given';
  } else if (cfg.kind === 'paperCycle') {
    if (cfg.seed === undefined) {
      throw new Error(`${name}: give pct (a fraction in (0, 1)) or a seed to draw it from [0.5, 1)`);
    }
    if (!Number.isInteger(cfg.seed)) throw new Error(`${name}: seed must be an integer, got ${cfg.seed}`);
    pct = drawPct(cfg.seed);
    pctSource = 'seed';
  } else {
    pct = DEFAULT_ONECYCLE_PCT;
    pctSource = 'default';
  }
  const lrEnd = cfg.lrEnd ?? c.lrMin;
  num('lrEnd', lrEnd, 0, c.lrMax, { prefix: name });

  // ramp(x) maps x ∈ [0,1] to [0,1]: 0 → 0, 1 → 1.
  const ramp = shape === 'cosine' ? (x: number) => (1 - Math.cos(Math.PI * x)) / 2 : (x: number) => x;
  const pos = (t: number) => {
    checkT(t, c.T);
    return c.T === 1 ? 0 : t / (c.T - 1);
  };
  const level = (t: number) => {
    const p = pos(t);
    return p <= pct ? ramp(p / pct) : 1 - ramp((p - pct) / (1 - pct));
  };
  const lr = (t: number) => {
    const l = level(t);
    // Warm-up runs α_min → α_max, the anneal α_max → lrEnd.
    return pos(t) <= pct ? c.lrMin + (c.lrMax - c.lrMin) * l : lrEnd + (c.lrMax - lrEnd) * l;
  };
  const peakStep = Math.round(pct * (c.T - 1));
  return {
    kind: cfg.kind,
    totalSteps: c.T,
    lrMin: c.lrMin,
    lr,
    momentum: (t) => momentumAt(c, level(t)),
    level,
    phase: (t) => (pos(t) <= pct ? (shape === 'cosine' ? 'warmup' : 'up') : shape === 'cosine' ? 'anneal' : 'down'),
    describe: () => ({
      kind: cfg.kind,
      totalSteps: c.T,
      lrMin: c.lrMin,
      lrMax: c.lrMax,
      lrEnd,
      momMin: c.momMin,
      momMax: c.momMax,
      momentumMode: c.mode,
      pct,
      pctSource,
      ...(pctSource === 'seed' ? { seed: cfg.seed } : {}),
      peakStep,
      shape,
    }),
  };
}

/** Smith (2017) cyclical LR: triangle waves between lrMin and lrMax with half-period stepSize. */
function makeTriangular(cfg: ScheduleConfig): Schedule {
  const c = common(cfg);
  const name = 'schedule triangular';
  const mode = cfg.triangularMode ?? 'triangular';
  if (mode !== 'triangular' && mode !== 'triangular2' && mode !== 'exp_range') {
    throw new Error(
      `${name}: triangularMode must be triangular, triangular2 or exp_range; got ${JSON.stringify(mode)}`,
    );
  }
  let stepSize: number;
  if (cfg.stepSize !== undefined) {
    num('stepSize', cfg.stepSize, 0, Infinity, { minOpen: true, prefix: name });
    stepSize = cfg.stepSize;
  } else {
    const cycles = cfg.cycles ?? 1;
    num('cycles', cycles, 0, Infinity, { minOpen: true, prefix: name });
    // Fractional on purpose: the run then ends exactly at lrMin after `cycles` cycles.
    stepSize = Math.max(c.T - 1, 1) / (2 * cycles);
  }
  const gamma = cfg.gamma ?? 1;
  if (mode === 'exp_range') num('gamma', gamma, 0, 1, { minOpen: true, prefix: name });

  const level = (t: number) => {
    checkT(t, c.T);
    const k = Math.floor(1 + t / (2 * stepSize)); // 1-based cycle number
    const x = Math.abs(t / stepSize - 2 * k + 1);
    const scale = mode === 'triangular2' ? 1 / 2 ** (k - 1) : mode === 'exp_range' ? gamma ** t : 1;
    return Math.max(0, 1 - x) * scale;
  };
  return {
    kind: 'triangular',
    totalSteps: c.T,
    lrMin: c.lrMin,
    lr: (t) => c.lrMin + (c.lrMax - c.lrMin) * level(t),
    momentum: (t) => momentumAt(c, level(t)),
    level,
    phase: (t) => {
      checkT(t, c.T);
      return Math.floor(t / stepSize) % 2 === 0 ? 'up' : 'down';
    },
    describe: () => ({
      kind: 'triangular',
      totalSteps: c.T,
      lrMin: c.lrMin,
      lrMax: c.lrMax,
      lrEnd: c.lrMin,
      momMin: c.momMin,
      momMax: c.momMax,
      momentumMode: c.mode,
      shape: 'triangular',
      stepSize,
      triangularMode: mode,
      ...(mode === 'exp_range' ? { gamma } : {}),
    }),
  };
}

// ---------------------------------------------------------------------------------------

function checkT(t: number, T: number): void {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > T - 1) {
    throw new RangeError(`schedule: step t must be in [0, ${T - 1}] (totalSteps = ${T}), got ${t}`);
  }
}

function num(
  field: string,
  v: unknown,
  min: number,
  max: number,
  o: { minOpen?: boolean; maxOpen?: boolean; prefix?: string } = {},
): void {
  const ok =
    typeof v === 'number' && Number.isFinite(v) && (o.minOpen ? v > min : v >= min) && (o.maxOpen ? v < max : v <= max);
  if (!ok) {
    const range =
      `${o.minOpen ? '(' : '['}${min}, ` +
      `${max === Infinity ? '∞' : max}${o.maxOpen || max === Infinity ? ')' : ']'}`;
    throw new Error(`${o.prefix ?? 'schedule'}: ${field} must be a number in ${range}, got ${JSON.stringify(v)}`);
  }
}
