// Discriminative fine-tuning: parameter groups from input to output, and each group's
// learning rate / momentum / weight decay at a step.
//
// Choices (the paper names the idea, not the formula):
// - Groups are contiguous runs of the engine's layer list (input → output), never mixed.
// - Group g of G sits at fraction f = g/(G−1) between the first group (f = 0) and the last
//   (f = 1). With a single group, f = 1: the whole network follows the schedule.
// - LR: first group α_min, last group the schedule's α_t.
//     geometric (default, fastai's `slice`): lr_g = α_min · (α_t/α_min)^f
//     linear:                                lr_g = α_min + (α_t − α_min)·f
// - Momentum: the first group keeps the schedule's *rest* momentum — the momentum the schedule
//   pairs with α_min (m_max for `inverse`, m_min for `with`), i.e. group 0 stays at the
//   schedule's starting operating point; the last group gets the schedule's m_t. In between:
//   linear by default — momentum is not a scale parameter, and over 0.8–0.99 geometric and
//   linear differ by < 0.3 %; `momentumSpacing: 'geometric'` is there if wanted.

import type { GroupHyper, LayerInfo } from '../engine/types.js';
import type { Schedule } from './schedules.js';

export type GroupMode = 'layer' | 'stage' | number;
export type Spacing = 'geometric' | 'linear';

interface LayerGroup {
  /** 0 = nearest the input. */
  index: number;
  /** Parameter indices (into Model.parameters()). */
  params: number[];
  /** Layer (module) names in the group, input → output. */
  layers: string[];
  /** Distinct stage names in the group, input → output. */
  stages: string[];
}

/**
 * Group the layers, input → output:
 * - 'layer': every parameterised layer is its own group;
 * - 'stage': one group per stage (stem, stage1..4 / denseblocks…, head);
 * - N: N contiguous groups with (as near as possible) equal numbers of layers; group g holds
 *   layers [⌊g·L/N⌋, ⌊(g+1)·L/N⌋).
 */
export function layerGroups(layers: LayerInfo[], mode: GroupMode): LayerGroup[] {
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new Error('discriminative: the model reports no parameterised layers');
  }
  const seen = new Set<number>();
  for (const l of layers) {
    if (!Number.isInteger(l.stageIndex) || l.stageIndex < 0) {
      throw new Error(`discriminative: layer ${l.name} has an invalid stageIndex ${l.stageIndex}`);
    }
    for (const p of l.params) {
      if (seen.has(p)) throw new Error(`discriminative: parameter ${p} belongs to two layers (second: ${l.name})`);
      seen.add(p);
    }
  }
  // The engine lists layers input → output; a stable sort by stage only guards against a
  // stage listed out of order and changes nothing otherwise.
  const ordered = layers
    .map((l, i) => ({ l, i }))
    .sort((a, b) => a.l.stageIndex - b.l.stageIndex || a.i - b.i)
    .map((x) => x.l);

  let chunks: LayerInfo[][];
  if (mode === 'layer') {
    chunks = ordered.map((l) => [l]);
  } else if (mode === 'stage') {
    chunks = [];
    let last = -1;
    for (const l of ordered) {
      if (l.stageIndex !== last) {
        chunks.push([]);
        last = l.stageIndex;
      }
      chunks[chunks.length - 1]!.push(l);
    }
  } else if (typeof mode === 'number') {
    const L = ordered.length;
    if (!Number.isInteger(mode) || mode < 1 || mode > L) {
      throw new Error(
        `discriminative: group count must be an integer in [1, ${L}] (the model has ${L} parameterised ` +
          `layers), got ${mode}`,
      );
    }
    chunks = [];
    for (let g = 0; g < mode; g++) {
      chunks.push(ordered.slice(Math.floor((g * L) / mode), Math.floor(((g + 1) * L) / mode)));
    }
  } else {
    throw new Error(
      `discriminative: groups must be 'layer', 'stage' or a positive integer, got ${JSON.stringify(mode)}`,
    );
  }
  return chunks.map((ls, index) => ({
    index,
    params: ls.flatMap((l) => l.params),
    layers: ls.map((l) => l.name),
    stages: [...new Set(ls.map((l) => l.stage))],
  }));
}

/** Parameter indices per group, first group nearest the input (OptimizerConfig.groups). */
export function discriminativeGroups(layers: LayerInfo[], mode: GroupMode): number[][] {
  return layerGroups(layers, mode).map((g) => g.params);
}

interface GroupHyperOptions {
  /** α_min: the first group's LR. Must be > 0 for geometric spacing. */
  lrMin: number;
  /** The first group's momentum (see the file comment: the schedule's rest momentum). */
  momFirst: number;
  /** LR spacing; default 'geometric'. */
  spacing?: Spacing;
  /** Momentum spacing; default 'linear'. */
  momentumSpacing?: Spacing;
  /** One weight decay for all groups, or one per group. Default 0. */
  weightDecay?: number | number[];
}

/** Per-group hyperparameters at one step, from the schedule's α_t and m_t (the last group's). */
export function groupHyper(
  groupCount: number,
  scheduleLr: number,
  scheduleMom: number,
  opts: GroupHyperOptions,
): GroupHyper[] {
  if (!Number.isInteger(groupCount) || groupCount < 1) {
    throw new Error(`groupHyper: groupCount must be a positive integer, got ${groupCount}`);
  }
  const spacing = opts.spacing ?? 'geometric';
  const momSpacing = opts.momentumSpacing ?? 'linear';
  for (const [k, s] of [
    ['spacing', spacing],
    ['momentumSpacing', momSpacing],
  ] as const) {
    if (s !== 'geometric' && s !== 'linear') {
      throw new Error(`groupHyper: ${k} must be 'geometric' or 'linear', got ${JSON.stringify(s)}`);
    }
  }
  finite('lrMin', opts.lrMin, 0);
  finite('schedule lr', scheduleLr, 0);
  momentumRange('momFirst', opts.momFirst);
  momentumRange('schedule momentum', scheduleMom);
  if (spacing === 'geometric' && !(opts.lrMin > 0)) {
    throw new Error('groupHyper: geometric spacing needs lrMin > 0 (use linear spacing for lrMin = 0)');
  }
  if (momSpacing === 'geometric' && !(opts.momFirst > 0)) {
    throw new Error('groupHyper: geometric momentum spacing needs momFirst > 0');
  }
  const wd = weightDecays(groupCount, opts.weightDecay);
  const out: GroupHyper[] = [];
  for (let g = 0; g < groupCount; g++) {
    const f = groupCount === 1 ? 1 : g / (groupCount - 1);
    out.push({
      lr: interp(opts.lrMin, scheduleLr, f, spacing),
      momentum: interp(opts.momFirst, scheduleMom, f, momSpacing),
      weightDecay: wd[g]!,
    });
  }
  return out;
}

/** The baseline ("traditional transfer learning"): every group gets the same values. */
export function constantGroupHyper(
  groupCount: number,
  lr: number,
  momentum: number,
  weightDecay: number | number[] = 0,
): GroupHyper[] {
  if (!Number.isInteger(groupCount) || groupCount < 1) {
    throw new Error(`constantGroupHyper: groupCount must be a positive integer, got ${groupCount}`);
  }
  finite('lr', lr, 0);
  momentumRange('momentum', momentum);
  const wd = weightDecays(groupCount, weightDecay);
  return wd.map((w) => ({ lr, momentum, weightDecay: w }));
}

/**
 * Per-group hyperparameters of a schedule at step t. `discriminative: false`, or a `constant`
 * schedule without an lrMin below its rate, gives every group the schedule's own values (the
 * baseline); otherwise groupHyper with α_min = the schedule's lrMin and the first group's momentum =
 * the schedule's rest momentum (m_max for inverse, m_min for with).
 */
export function scheduleGroupHyper(
  schedule: Schedule,
  t: number,
  groupCount: number,
  opts: {
    spacing?: Spacing;
    momentumSpacing?: Spacing;
    weightDecay?: number | number[];
    discriminative?: boolean;
  } = {},
): GroupHyper[] {
  const lr = schedule.lr(t);
  const mom = schedule.momentum(t);
  if (opts.discriminative === false || (schedule.kind === 'constant' && schedule.lrMin >= lr)) {
    return constantGroupHyper(groupCount, lr, mom, opts.weightDecay ?? 0);
  }
  const d = schedule.describe();
  return groupHyper(groupCount, lr, mom, {
    lrMin: schedule.lrMin,
    momFirst: d.momentumMode === 'inverse' ? d.momMax : d.momMin,
    spacing: opts.spacing,
    momentumSpacing: opts.momentumSpacing,
    weightDecay: opts.weightDecay,
  });
}

function interp(a: number, b: number, f: number, spacing: Spacing): number {
  if (f === 0) return a;
  if (f === 1) return b; // exact endpoints (no pow round-off)
  return spacing === 'geometric' ? a * (b / a) ** f : a + (b - a) * f;
}

function weightDecays(G: number, wd: number | number[] | undefined): number[] {
  if (wd === undefined) return new Array<number>(G).fill(0);
  if (Array.isArray(wd)) {
    if (wd.length !== G) throw new Error(`groupHyper: weightDecay has ${wd.length} values for ${G} groups`);
    wd.forEach((w, i) => {
      finite(`weightDecay[${i}]`, w, 0);
    });
    return wd.slice();
  }
  finite('weightDecay', wd, 0);
  return new Array<number>(G).fill(wd);
}

function finite(name: string, v: number, min: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new Error(`groupHyper: ${name} must be a finite number >= ${min}, got ${v}`);
  }
}

function momentumRange(name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v >= 1) {
    throw new Error(`groupHyper: ${name} must be in [0, 1), got ${v}`);
  }
}
