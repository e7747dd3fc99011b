// One seeded PRNG for every layer: splits, balancing, augmentation, phantoms (data), the
// paperCycle pct draw and bootstrap resampling (recipe). mulberry32: tiny, fast, good enough for
// sampling (not crypto); its whole state is one integer, so it can be saved for resume.
// Two ways to seed it, kept because existing seeds must keep drawing the same numbers:
// `new Rng(seed)` / `Rng.derive(seed, ...key)` use the seed (or its FNV-1a hash) as the state;
// `createRng(seed)` scrambles an integer seed first so nearby seeds (0, 1, 2…) do not give
// correlated first draws.
/** Hash a string (or number) to a 32-bit seed (FNV-1a), so seeds can be derived from names. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const s = `${String(p)}\u0000`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  return h >>> 0;
}

export class Rng {
  private st: number;
  private spare: number | null = null;

  constructor(seed: number | string = 0) {
    this.st = typeof seed === 'string' ? hashSeed(seed) : seed >>> 0;
  }

  /** A child generator whose stream depends only on this seed and the key (order-independent). */
  static derive(seed: number, ...key: (string | number)[]): Rng {
    return new Rng(hashSeed(seed, ...key));
  }

  /** Internal state (an unsigned 32-bit integer), for resume. */
  state(): number {
    return this.st;
  }

  load(state: number): void {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff)
      throw new Error(`rng: state must be an unsigned 32-bit integer, got ${state}`);
    this.st = state;
    this.spare = null;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.st = (this.st + 0x6d2b79f5) >>> 0;
    let t = this.st;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`rng: int(n) needs a positive integer n, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller, caching the second value). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Fisher–Yates in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /** k distinct items drawn without replacement (order random). */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items.slice()).slice(0, Math.min(k, items.length));
  }
}

/** A generator from an integer seed, scrambled once (recipe: pct draw, bootstrap). */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) throw new Error(`rng: seed must be an integer, got ${seed}`);
  return new Rng(hash32(seed >>> 0));
}

function hash32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
