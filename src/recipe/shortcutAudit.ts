// The shortcut audit's tests and verdicts, as pure functions of scores, labels, sources,
// features and provenance cues (app/audit.ts runs the model and reads the images). Each test
// returns its figures with 95 % intervals and a Finding: the check, its verdict as data (pass,
// warn, flag or n/a) and the sentence that explains it, which reports show as written.
//
// Choices (documented here because they decide what "flagged" means):
// - Occlusion tests (frame only, lungs out; data/occlusion.ts defines the regions): the
//   model's AUC on the occluded images, stratified-bootstrap interval (recipe/roc.ts).
//   flag: AUC ≥ the test's limit (FRAME_ONLY_LIMIT 0.65, LUNGS_OUT_LIMIT 0.70, the
//         targets for a model that reads the lungs) and the interval's lower end > 0.5;
//   warn: AUC ≥ the limit but the interval reaches 0.5 (too few images to tell), or
//         AUC ≤ 1 − limit with the upper end < 0.5 (the occluded images still separate the
//         classes, in reverse: information is there and the model reads it backwards);
//   pass: otherwise. "retained" = (AUC_occluded − 0.5) / (AUC_full − 0.5), the share of the
//         model's discrimination left when the lungs are gone.
// - Source probe, per label with ≥ 2 sources: k-fold (patient-grouped) cross-validated
//   accuracy of an L2 logistic regression (λ = PROBE_LAMBDA) on the penultimate features
//   predicting the source; compared with the majority rate m (always guessing the largest
//   source) as lift = (accuracy − m) / (1 − m) (0 = no better than guessing, 1 = perfect).
//   flag: lift ≥ 0.5 and the Wilson lower end > m; warn: lift ≥ 0.2 and lower end > m.
//   Sources differ genuinely (scanners, populations), so a probe that succeeds is not proof of
//   a shortcut by itself: it says the features carry the source, and the occlusion tests say
//   whether the decision uses what lies outside the lungs.
// - Metadata-only baseline: the same probe on provenance cues alone (data/provenance.ts)
//   predicting the label; cross-validated AUC with a bootstrap interval over the
//   out-of-fold scores. flag: AUC ≥ 0.80 and lower end > 0.5 (the dataset is confounded
//   whatever the network does); warn: AUC ≥ 0.65 and lower end > 0.5.
// - Per source: accuracy, sensitivity, specificity (Wilson) and AUC (bootstrap, when a source
//   has both classes) of the model on each source's images. Design check: the share of
//   images whose source holds both classes; flag at 0 (every source holds one class, so
//   source and label coincide and no metric can tell them apart); warn below 0.5.
// - Leave one source out (no retraining — the audit scores the model as it is): for each label
//   with ≥ 2 sources and each of its sources s, the AUC of "label from s alone" against all
//   images of the other classes ("alone"), and the AUC with s removed ("without"). A model
//   that reads the disease separates every source's positives about equally; one that reads
//   provenance separates some sources and not others. warn: the best and worst "alone" AUCs
//   differ by > LOSO_SPREAD and their intervals do not overlap. (A retrained
//   leave-one-source-out needs a split that holds out whole sources; this is the
//   no-retraining view of the same question.)
import { bootstrapAuc, auc as aucOf, type AucInterval } from './roc.js';
import { wilson, type Proportion } from './wilson.js';
import { confusionAtThreshold, rates } from './metrics.js';
import { BOOTSTRAP_RESAMPLES } from './bootstrap.js';
import { crossValidate } from './crossValidation.js';

export const FRAME_ONLY_LIMIT = 0.65;
export const LUNGS_OUT_LIMIT = 0.7;
export const PROBE_LAMBDA = 0.01;
export const PROBE_FLAG_LIFT = 0.5;
export const PROBE_WARN_LIFT = 0.2;
export const METADATA_FLAG_AUC = 0.8;
export const METADATA_WARN_AUC = 0.65;
export const LOSO_SPREAD = 0.1;

export type Verdict = 'pass' | 'warn' | 'flag' | 'n/a';

/** One check's conclusion: what was checked, the verdict, and the sentence that explains it. */
export interface Finding {
  check: string;
  verdict: Verdict;
  text: string;
}
const RANK: Record<Verdict, number> = { 'n/a': 0, pass: 1, warn: 2, flag: 3 };
export const worst = (vs: Verdict[]): Verdict => vs.reduce<Verdict>((a, b) => (RANK[b] > RANK[a] ? b : a), 'n/a');

export interface StatOptions {
  bootstrap?: number;
  seed?: number;
}
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const ci = (a: { value: number; lo: number; hi: number }) => `${f3(a.value)} (95 % CI ${f3(a.lo)}–${f3(a.hi)})`;
const pct = (p: Proportion) =>
  `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)})`;

export interface OcclusionResult extends Finding {
  test: 'frame-only' | 'lungs-out';
  auc: AucInterval;
  /** Accuracy at the model's threshold on the occluded images. */
  accuracy: Proportion;
  /** (AUC_occluded − 0.5) / (AUC_full − 0.5). */
  retained: number;
}

/** y: 1 = positive class, 0 = other. */
export function occlusionTest(
  test: OcclusionResult['test'],
  scores: ArrayLike<number>,
  y: ArrayLike<number>,
  fullAuc: number,
  threshold: number,
  o: StatOptions = {},
): OcclusionResult {
  const limit = test === 'frame-only' ? FRAME_ONLY_LIMIT : LUNGS_OUT_LIMIT;
  const a = bootstrapAuc(scores, y, { iterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES, seed: o.seed ?? 0 });
  const accuracy = rates(confusionAtThreshold(scores, y, threshold)).accuracy;
  const retained = (a.value - 0.5) / (fullAuc - 0.5);
  const what =
    test === 'frame-only' ? 'with only the frame outside the lungs left' : 'with the lung fields blacked out';
  let verdict: Verdict = 'pass';
  let why = `the model is near chance ${what}, as a model that reads the lungs should be (limit ${limit})`;
  if (!Number.isFinite(a.value)) {
    verdict = 'n/a';
    why = 'needs both classes';
  } else if (a.value >= limit && a.lo > 0.5) {
    verdict = 'flag';
    why = `the model still separates the classes ${what}: it uses cues outside the lungs (limit ${limit})`;
  } else if (a.value >= limit) {
    verdict = 'warn';
    why = `AUC above ${limit} ${what}, but the interval reaches 0.5: too few images to tell`;
  } else if (a.value <= 1 - limit && a.hi < 0.5) {
    verdict = 'warn';
    why = `the occluded images still separate the classes, in reverse (AUC ≤ ${f3(1 - limit)})`;
  }
  return {
    test,
    auc: a,
    accuracy,
    retained,
    check: test,
    verdict,
    text: `${test}: AUC ${ci(a)} — ${verdict.toUpperCase()}: ${why}`,
  };
}

export interface ProbeLabel {
  label: string;
  n: number;
  sources: { source: string; n: number }[];
  folds: number;
  accuracy: Proportion;
  /** Share of the largest source (accuracy of always guessing it). */
  majority: number;
  lift: number;
  /** Two sources: AUC of the probe's out-of-fold probability of the second source. */
  auc: AucInterval | null;
  verdict: Verdict;
}

export interface ProbeResult extends Finding {
  what: string;
  labels: ProbeLabel[];
}

/**
 * Source probe: within each label, how well features x [n × d] predict the source
 * (cross-validated, patient-grouped). Labels with one source are skipped.
 */
export function sourceProbe(
  x: ArrayLike<number>,
  d: number,
  labels: readonly string[],
  sources: readonly string[],
  patients: readonly string[],
  o: StatOptions & { k?: number; lambda?: number } = {},
): ProbeResult {
  const out: ProbeLabel[] = [];
  for (const label of [...new Set(labels)].sort()) {
    const idx = labels.flatMap((l, i) => (l === label ? [i] : []));
    const names = [...new Set(idx.map((i) => sources[i]!))].sort();
    if (names.length < 2 || new Set(idx.map((i) => patients[i]!)).size < 2) continue;
    const y = Int32Array.from(idx, (i) => names.indexOf(sources[i]!));
    const sub = new Float64Array(idx.length * d);
    idx.forEach((r, q) => {
      for (let j = 0; j < d; j++) sub[q * d + j] = x[r * d + j]!;
    });
    const cv = crossValidate(
      sub,
      y,
      d,
      idx.map((i) => patients[i]!),
      { k: o.k ?? 5, seed: o.seed ?? 0, lambda: o.lambda ?? PROBE_LAMBDA },
    );
    const counts = names.map((s) => ({ source: s, n: idx.filter((i) => sources[i] === s).length }));
    const majority = Math.max(...counts.map((c) => c.n)) / idx.length;
    const accuracy = wilson(cv.correct, idx.length);
    const lift = (accuracy.value - majority) / (1 - majority);
    const auc =
      names.length === 2
        ? bootstrapAuc(
            Float64Array.from(idx, (_, q) => cv.probs[q * 2 + 1]!),
            y,
            { iterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES, seed: o.seed ?? 0 },
          )
        : null;
    const verdict: Verdict =
      accuracy.lo > majority && lift >= PROBE_FLAG_LIFT
        ? 'flag'
        : accuracy.lo > majority && lift >= PROBE_WARN_LIFT
          ? 'warn'
          : 'pass';
    out.push({ label, n: idx.length, sources: counts, folds: cv.folds, accuracy, majority, lift, auc, verdict });
  }
  const verdict = worst(out.map((l) => l.verdict));
  const each = out.map(
    (l) =>
      `${l.label} (${l.sources.length} sources) accuracy ${pct(l.accuracy)}` +
      ` vs ${(100 * l.majority).toFixed(1)} % by guessing the largest, lift ${f3(l.lift)}`,
  );
  const why =
    verdict === 'flag'
      ? "the model's features encode where an image comes from"
      : verdict === 'warn'
        ? 'the features carry some of the source'
        : 'the features carry little of the source';
  const text =
    out.length === 0
      ? 'source probe: n/a — no label has images from two or more sources'
      : `source probe: ${each.join('; ')} — ${verdict.toUpperCase()}: ${why}`;
  return {
    what: 'penultimate features → source, within each label',
    labels: out,
    check: 'source probe',
    verdict,
    text,
  };
}

export interface MetadataResult extends Finding {
  features: string[];
  n: number;
  folds: number;
  auc: AucInterval;
  /** Each cue alone: max(AUC, 1 − AUC) of the raw cue, highest first. */
  single: { feature: string; auc: number }[];
}

/** Metadata-only baseline: provenance cues x [n × d] → label (y 0/1), cross-validated. */
export function metadataBaseline(
  x: ArrayLike<number>,
  names: string[],
  y: ArrayLike<number>,
  patients: readonly string[],
  o: StatOptions & { k?: number; lambda?: number } = {},
): MetadataResult {
  const d = names.length;
  const n = y.length;
  let pos = 0;
  for (let i = 0; i < n; i++) pos += y[i]! ? 1 : 0;
  const single = names
    .map((feature, j) => {
      const a = aucOf(
        Float64Array.from({ length: n }, (_, i) => x[i * d + j]!),
        y,
      );
      return { feature, auc: Number.isFinite(a) ? Math.max(a, 1 - a) : NaN };
    })
    .sort((a, b) => (b.auc || 0) - (a.auc || 0));
  if (pos === 0 || pos === n) {
    const nan: AucInterval = {
      value: NaN,
      lo: NaN,
      hi: NaN,
      level: 0.95,
      iterations: 0,
      seed: o.seed ?? 0,
      method: 'stratified percentile bootstrap',
    };
    return {
      features: names,
      n,
      folds: 0,
      auc: nan,
      single,
      check: 'metadata-only',
      verdict: 'n/a',
      text: 'metadata-only: n/a — the set has one class',
    };
  }
  const cv = crossValidate(x, y, d, patients, { k: o.k ?? 5, seed: o.seed ?? 0, lambda: o.lambda ?? PROBE_LAMBDA });
  const scores = Float64Array.from({ length: n }, (_, i) => cv.probs[i * 2 + 1]!);
  const a = bootstrapAuc(scores, y, { iterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES, seed: o.seed ?? 0 });
  const verdict: Verdict =
    a.lo > 0.5 && a.value >= METADATA_FLAG_AUC ? 'flag' : a.lo > 0.5 && a.value >= METADATA_WARN_AUC ? 'warn' : 'pass';
  const top = single
    .slice(0, 3)
    .map((s) => `${s.feature} ${f3(s.auc)}`)
    .join(', ');
  const why =
    verdict === 'flag'
      ? 'provenance cues alone predict the label: the dataset is confounded whatever the network does'
      : verdict === 'warn'
        ? 'provenance cues carry some of the label'
        : 'provenance cues alone do not predict the label';
  return {
    features: names,
    n,
    folds: cv.folds,
    auc: a,
    single,
    check: 'metadata-only',
    verdict,
    text: `metadata-only: AUC ${ci(a)} (strongest single cues: ${top}) — ${verdict.toUpperCase()}: ${why}`,
  };
}

export interface SourceMetrics {
  source: string;
  n: number;
  positives: number;
  negatives: number;
  accuracy: Proportion;
  sensitivity: Proportion;
  specificity: Proportion;
  auc: AucInterval | null;
}

export interface PerSourceResult extends Finding {
  sources: SourceMetrics[];
  /** Share of images whose source holds both classes. */
  mixedShare: number;
}

export function perSource(
  scores: ArrayLike<number>,
  y: ArrayLike<number>,
  sources: readonly string[],
  threshold: number,
  o: StatOptions = {},
): PerSourceResult {
  const names = [...new Set(sources)].sort();
  let mixed = 0;
  const rows = names.map((source) => {
    const idx = sources.flatMap((s, i) => (s === source ? [i] : []));
    const s = Float64Array.from(idx, (i) => scores[i]!);
    const yy = Int32Array.from(idx, (i) => y[i]!);
    const r = rates(confusionAtThreshold(s, yy, threshold));
    const positives = yy.reduce((a, b) => a + (b ? 1 : 0), 0);
    const both = positives > 0 && positives < idx.length;
    if (both) mixed += idx.length;
    return {
      source,
      n: idx.length,
      positives,
      negatives: idx.length - positives,
      accuracy: r.accuracy,
      sensitivity: r.sensitivity,
      specificity: r.specificity,
      auc: both ? bootstrapAuc(s, yy, { iterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES, seed: o.seed ?? 0 }) : null,
    };
  });
  const mixedShare = mixed / Math.max(1, sources.length);
  let allPos = 0;
  for (let i = 0; i < y.length; i++) allPos += y[i] ? 1 : 0;
  const oneClass = allPos === 0 || allPos === y.length;
  const verdict: Verdict = oneClass ? 'n/a' : mixedShare === 0 ? 'flag' : mixedShare < 0.5 ? 'warn' : 'pass';
  const why =
    verdict === 'n/a'
      ? 'the set has one class, so the design check does not apply'
      : verdict === 'flag'
        ? 'every source holds a single class: source and label coincide, and no metric on this set can tell ' +
          'a disease reader from a source reader'
        : verdict === 'warn'
          ? `only ${(100 * mixedShare).toFixed(0)} % of the images come from sources holding both classes`
          : `${(100 * mixedShare).toFixed(0)} % of the images come from sources holding both classes`;
  const list = rows
    .map(
      (r) =>
        `${r.source} (${r.n}: ${[
          ...(r.positives > 0 ? [`sens ${pct(r.sensitivity)}`] : []),
          ...(r.negatives > 0 ? [`spec ${pct(r.specificity)}`] : []),
        ].join(', ')})`,
    )
    .join('; ');
  return {
    sources: rows,
    mixedShare,
    check: 'per source',
    verdict,
    text: `per source: ${list} — ${verdict.toUpperCase()}: ${why}`,
  };
}

export interface LosoRow {
  label: string;
  source: string;
  n: number;
  /** This label's images from this source alone vs every image of the other classes. */
  alone: AucInterval;
  /** The whole set without this source. */
  without: number;
}

export interface LosoResult extends Finding {
  rows: LosoRow[];
}

/** labels: class names per row; y 1 = positive class. */
export function leaveOneSourceOut(
  scores: ArrayLike<number>,
  y: ArrayLike<number>,
  labels: readonly string[],
  sources: readonly string[],
  o: StatOptions = {},
): LosoResult {
  const rows: LosoRow[] = [];
  const n = y.length;
  const verdicts: Verdict[] = [];
  const notes: string[] = [];
  for (const label of [...new Set(labels)].sort()) {
    const names = [...new Set(labels.flatMap((l, i) => (l === label ? [sources[i]!] : [])))].sort();
    if (names.length < 2) continue;
    const mine: LosoRow[] = [];
    for (const source of names) {
      const alone = [...Array(n).keys()].filter((i) => labels[i] !== label || sources[i] === source);
      const without = [...Array(n).keys()].filter((i) => !(sources[i] === source));
      const pick = (idx: number[]) =>
        [Float64Array.from(idx, (i) => scores[i]!), Int32Array.from(idx, (i) => y[i]!)] as const;
      const [sa, ya] = pick(alone);
      const [sw, yw] = pick(without);
      mine.push({
        label,
        source,
        n: labels.filter((l, i) => l === label && sources[i] === source).length,
        alone: bootstrapAuc(sa, ya, { iterations: o.bootstrap ?? BOOTSTRAP_RESAMPLES, seed: o.seed ?? 0 }),
        without: aucOf(sw, yw),
      });
    }
    rows.push(...mine);
    const ok = mine.filter((r) => Number.isFinite(r.alone.value));
    if (ok.length < 2) continue;
    const best = ok.reduce((a, b) => (b.alone.value > a.alone.value ? b : a));
    const worstRow = ok.reduce((a, b) => (b.alone.value < a.alone.value ? b : a));
    const spread = best.alone.value - worstRow.alone.value;
    const v: Verdict = spread > LOSO_SPREAD && best.alone.lo > worstRow.alone.hi ? 'warn' : 'pass';
    verdicts.push(v);
    notes.push(
      `${label}: alone-AUC ${f3(worstRow.alone.value)} (${worstRow.source})` +
        ` to ${f3(best.alone.value)} (${best.source})`,
    );
  }
  const verdict = worst(verdicts);
  const text =
    rows.length === 0
      ? 'leave one source out: n/a — no label has two or more sources'
      : `leave one source out (no retraining): ${notes.join('; ') || 'too few images per source'}` +
        ` — ${verdict.toUpperCase()}: ${
          verdict === 'warn'
            ? 'the model separates some sources far better than others: its score tracks provenance'
            : 'the model separates each source about equally'
        }`;
  return { rows, check: 'leave one source out', verdict, text };
}
