// Operator profiles as tables: per op name, calls, self time (its duration less that of the
// ops it called, as torch.profiler's "Self CPU"), total time and FLOPs; and ours beside
// Python's, op by op, to say where a gap lives. Both sides' raw events go through the same
// code here, so a difference in the table is a difference in the work, not in the bookkeeping.
import type { OpEvents } from '../engine/native.js';

interface OpRow {
  name: string;
  calls: number;
  /** Microseconds spent in the op itself, children excluded. */
  selfUs: number;
  /** Microseconds from its start to its end, children included (nested calls of the same op counted once). */
  totalUs: number;
  /** FLOPs libtorch counted for the op (forward conv, mm, add, mul; 0 for the rest). */
  flops: number;
}

export interface OpSummary {
  rows: OpRow[];
  /** Sum of self times: the time the profiled work spent in ops. */
  selfUs: number;
  /** Sum of FLOPs over every op. */
  flops: number;
}

/**
 * Self time from nesting: on each thread, an op that starts inside another one's span is its
 * child. Ties in start time put the longer (outer) op first.
 */
export function summariseOps(ev: OpEvents): OpSummary {
  const n = ev.name.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => ev.thread[a]! - ev.thread[b]! || ev.startUs[a]! - ev.startUs[b]! || ev.durationUs[b]! - ev.durationUs[a]!,
  );
  const self = Float64Array.from({ length: n }, (_, i) => ev.durationUs[i]!);
  const outer = new Uint8Array(n); // 1: no enclosing op of the same name (its total counts)
  const stack: number[] = [];
  let thread = NaN;
  for (const i of order) {
    if (ev.thread[i] !== thread) {
      stack.length = 0;
      thread = ev.thread[i]!;
    }
    const start = ev.startUs[i]!;
    while (stack.length && ev.startUs[stack.at(-1)!]! + ev.durationUs[stack.at(-1)!]! <= start) stack.pop();
    const parent = stack.at(-1);
    if (parent !== undefined) self[parent] = self[parent]! - ev.durationUs[i]!;
    outer[i] = stack.some((j) => ev.name[j] === ev.name[i]) ? 0 : 1;
    stack.push(i);
  }
  const by = new Map<string, OpRow>();
  for (let i = 0; i < n; i++) {
    const name = ev.name[i]!;
    const r = by.get(name) ?? { name, calls: 0, selfUs: 0, totalUs: 0, flops: 0 };
    r.calls++;
    r.selfUs += Math.max(0, self[i]!);
    if (outer[i]) r.totalUs += ev.durationUs[i]!;
    r.flops += ev.flops[i]!;
    by.set(name, r);
  }
  const rows = [...by.values()].sort((a, b) => b.selfUs - a.selfUs);
  return { rows, selfUs: rows.reduce((a, r) => a + r.selfUs, 0), flops: rows.reduce((a, r) => a + r.flops, 0) };
}

/** One line per op: ours and Python's self time per step, the largest |difference| first. */
interface OpComparison {
  name: string;
  oursMs: number;
  pythonMs: number;
  oursCalls: number;
  pythonCalls: number;
}

export function compareOps(ours: OpSummary, python: OpSummary, steps: number): OpComparison[] {
  const names = new Set([...ours.rows.map((r) => r.name), ...python.rows.map((r) => r.name)]);
  const get = (s: OpSummary, n: string) => s.rows.find((r) => r.name === n);
  return [...names]
    .map((name) => {
      const o = get(ours, name);
      const p = get(python, name);
      return {
        name,
        oursMs: (o?.selfUs ?? 0) / 1000 / steps,
        pythonMs: (p?.selfUs ?? 0) / 1000 / steps,
        oursCalls: (o?.calls ?? 0) / steps,
        pythonCalls: (p?.calls ?? 0) / steps,
      };
    })
    .sort((a, b) => Math.abs(b.oursMs - b.pythonMs) - Math.abs(a.oursMs - a.pythonMs));
}

/** A plain-text table of the top `limit` ops (per step), ours alone or beside Python's. */
export function formatOpTable(title: string, ours: OpSummary, steps: number, python?: OpSummary, limit = 12): string {
  const ms = (us: number) => (us / 1000 / steps).toFixed(2);
  const lines = [title];
  if (!python) {
    lines.push(`${'op'.padEnd(44)} ${'calls'.padStart(6)} ${'self ms'.padStart(9)} ${'self %'.padStart(7)}`);
    for (const r of ours.rows.slice(0, limit)) {
      lines.push(
        `${r.name.slice(0, 44).padEnd(44)} ${(r.calls / steps).toFixed(0).padStart(6)} ` +
          `${ms(r.selfUs).padStart(9)} ${((100 * r.selfUs) / ours.selfUs).toFixed(1).padStart(7)}`,
      );
    }
    lines.push(`${'all ops'.padEnd(44)} ${''.padStart(6)} ${ms(ours.selfUs).padStart(9)}`);
    return lines.join('\n');
  }
  lines.push(
    `${'op (largest difference first)'.padEnd(44)} ${'calls'.padStart(11)} ${'ours ms'.padStart(9)} ` +
      `${'python ms'.padStart(9)} ${'Δ ms'.padStart(8)}`,
  );
  for (const c of compareOps(ours, python, steps).slice(0, limit)) {
    lines.push(
      `${c.name.slice(0, 44).padEnd(44)} ` +
        `${`${c.oursCalls.toFixed(0)}/${c.pythonCalls.toFixed(0)}`.padStart(11)} ` +
        `${c.oursMs.toFixed(2).padStart(9)} ${c.pythonMs.toFixed(2).padStart(9)} ` +
        `${(c.oursMs - c.pythonMs).toFixed(2).padStart(8)}`,
    );
  }
  lines.push(
    `${'all ops'.padEnd(44)} ${''.padStart(11)} ${ms(ours.selfUs).padStart(9)} ` +
      `${ms(python.selfUs).padStart(9)} ` +
      `${((ours.selfUs - python.selfUs) / 1000 / steps).toFixed(2).padStart(8)}`,
  );
  return lines.join('\n');
}
