// Class balancing. Undersampling draws the larger classes down to the smallest, spreading the
// draw evenly over sub-groups (source × raw class) so one big source does not supply all
// negatives; oversampling repeats minority rows (training split only: a repeated image in
// validation would count twice).
import { Rng } from '../util/rng.js';

export type BalanceMode = 'none' | 'undersample' | 'oversample';
export const BALANCE_MODES: BalanceMode[] = ['none', 'undersample', 'oversample'];

/**
 * Draw `n` items spread as evenly as possible over the groups given by `group` (a group with
 * too few items gives all it has and the rest is redistributed). Seeded; returns items in
 * their original order.
 */
export function drawEven<T>(items: readonly T[], n: number, group: (t: T) => string, rng: Rng): T[] {
  if (n >= items.length) return items.slice();
  const groups = new Map<string, number[]>();
  items.forEach((t, i) => {
    const k = group(t);
    const g = groups.get(k) ?? [];
    g.push(i);
    groups.set(k, g);
  });
  const keys = [...groups.keys()].sort();
  for (const k of keys) rng.shuffle(groups.get(k)!);
  const quota = new Map(keys.map((k) => [k, 0]));
  let left = n;
  let open = keys.filter((k) => groups.get(k)!.length > 0);
  while (left > 0 && open.length > 0) {
    const share = Math.max(1, Math.floor(left / open.length));
    // Extra units (left % open) go to groups in a seeded order, not always the first.
    const order = rng.shuffle(open.slice());
    for (const k of order) {
      if (left === 0) break;
      const room = groups.get(k)!.length - quota.get(k)!;
      const take = Math.min(share, room, left);
      quota.set(k, quota.get(k)! + take);
      left -= take;
    }
    open = open.filter((k) => quota.get(k)! < groups.get(k)!.length);
  }
  const chosen: number[] = [];
  for (const k of keys) chosen.push(...groups.get(k)!.slice(0, quota.get(k)!));
  return chosen.sort((a, b) => a - b).map((i) => items[i]);
}

/** Every label down to the smallest label's count (or `perLabel`), drawn evenly over `group`. */
export function undersample<T extends { label: string }>(
  rows: readonly T[],
  seed: number,
  group: (t: T) => string = () => '',
  perLabel?: number,
): T[] {
  const byLabel = new Map<string, T[]>();
  for (const r of rows) {
    const l = byLabel.get(r.label);
    if (l) l.push(r);
    else byLabel.set(r.label, [r]);
  }
  const n = perLabel ?? Math.min(...[...byLabel.values()].map((v) => v.length));
  const keep = new Set<T>();
  for (const label of [...byLabel.keys()].sort()) {
    for (const r of drawEven(byLabel.get(label)!, n, group, Rng.derive(seed, 'undersample', label))) keep.add(r);
  }
  return rows.filter((r) => keep.has(r));
}

/** Repeat rows of smaller labels (drawn at random, seeded) until every label has the largest count. */
export function oversample<T extends { label: string }>(
  rows: readonly T[],
  seed: number,
  copy: (t: T, k: number) => T = (t) => t,
): T[] {
  const byLabel = new Map<string, T[]>();
  for (const r of rows) {
    const l = byLabel.get(r.label);
    if (l) l.push(r);
    else byLabel.set(r.label, [r]);
  }
  const n = Math.max(...[...byLabel.values()].map((v) => v.length));
  const out = rows.slice();
  for (const label of [...byLabel.keys()].sort()) {
    const have = byLabel.get(label)!;
    const rng = Rng.derive(seed, 'oversample', label);
    for (let k = have.length; k < n; k++) out.push(copy(have[rng.int(have.length)], k - have.length + 1));
  }
  return out;
}

export function countBy<T>(rows: readonly T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[key(r)] = (out[key(r)] ?? 0) + 1;
  return out;
}
