// torch.utils.data.DistributedSampler's split of one epoch's order over `world` ranks:
// every rank draws the same seeded permutation and keeps positions rank, rank+world, …
// With `pad` (training) the order is first extended by wrapping to a multiple of world,
// so every rank runs the same number of steps (a collective per step needs that); without
// it (validation) nothing is repeated and the shards differ in length by at most one.

export interface Shard {
  rank: number;
  world: number;
}

export function checkShard(s: Shard): void {
  if (!Number.isInteger(s.world) || s.world < 1)
    throw new Error(`world size must be a positive integer (got ${s.world})`);
  if (!Number.isInteger(s.rank) || s.rank < 0 || s.rank >= s.world)
    throw new Error(`rank must be in [0, ${s.world}) (got ${s.rank})`);
}

/** Items of `n` that rank gets. */
export function shardLength(n: number, s: Shard, pad: boolean): number {
  return pad ? Math.ceil(n / s.world) : Math.max(0, Math.ceil((n - s.rank) / s.world));
}

/** This rank's part of `order` (the full epoch order, identical on every rank). */
export function shardOrder<T>(order: readonly T[], s: Shard, pad: boolean): T[] {
  checkShard(s);
  if (s.world === 1) return order.slice();
  const n = order.length;
  const total = pad ? shardLength(n, s, true) * s.world : n;
  const out: T[] = [];
  for (let i = s.rank; i < total; i += s.world) out.push(order[i % n]!);
  return out;
}
