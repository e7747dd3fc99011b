// A small seeded PRNG for the recipe layer (pct drawing, bootstrap resampling).
// mulberry32: 32-bit state, fast, good enough for resampling; its whole state is one
// integer, so it can be saved and restored for resume. Kept inside recipe/ on purpose so
// the recipe layer depends on nothing but itself and engine/types.

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Internal state (an unsigned 32-bit integer), for resume. */
  state(): number;
  load(state: number): void;
}

/** Seeds must be integers (any sign); they are reduced to 32 bits. */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) {
    throw new Error(`rng: seed must be an integer, got ${seed}`);
  }
  // Scramble the seed once so that nearby seeds (0, 1, 2, …) do not give correlated
  // first draws.
  let s = hash32(seed >>> 0);
  const rng: Rng = {
    next() {
      s = (s + 0x6d2b79f5) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 15), z | 1);
      z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
      return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
    },
    int(n: number) {
      if (!Number.isInteger(n) || n <= 0) throw new Error(`rng: int(n) needs a positive integer n, got ${n}`);
      return Math.floor(rng.next() * n);
    },
    state: () => s,
    load(state: number) {
      if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) {
        throw new Error(`rng: state must be an unsigned 32-bit integer, got ${state}`);
      }
      s = state;
    },
  };
  return rng;
}

function hash32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
