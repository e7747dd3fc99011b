// Measuring the refusal: labelled sets of image files (frontal chest radiographs that should be
// accepted, and kinds that should be refused), each image through the serving path exactly as a
// request goes (prepareStudy with the segmenter, the mask checks, the model, the feature check:
// app/serve/frontalRefusal.ts), tallied per kind with Wilson 95 % intervals.
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { InferenceModel } from '../../engine/types.js';
import type { FrontalVerdict, OodRecord } from '../../recipe/frontalCheck.js';
import type { LungFieldShape } from '../../recipe/lungFields.js';
import { wilson, type Proportion } from '../../recipe/wilson.js';
import type { LungField } from '../lungs/lungEvidence.js';
import { studyVerdict } from '../serve/frontalRefusal.js';
import { inferStudies, preprocessOf, prepareStudy, StudyInputError, type PreparedStudy } from '../serve/screen.js';

export interface OodInputSet {
  kind: string;
  /** true: frontal chest radiographs (a refusal is a false refusal); false: should be refused. */
  frontal: boolean;
  /** Drawn by the program (blank, noise, rendered scenes), not real files. */
  synthetic: boolean;
  /** Where the images come from, in words. */
  source: string;
  images: Array<{ name: string; bytes: () => Promise<Uint8Array> }>;
}

interface ImageOutcome {
  name: string;
  /** Refused, and by which check (null: accepted; 'undecodable': the decoder refused it first). */
  refusedBy: string | null;
  shape: LungFieldShape | null;
  distance: number | null;
}

export interface OodKindResult {
  kind: string;
  frontal: boolean;
  synthetic: boolean;
  source: string;
  images: number;
  /** Refused share: by any check (an undecodable file counts as refused: it gets no score either). */
  refused: Proportion;
  /** Refusals by the first failed check. */
  byCheck: Record<string, number>;
  outcomes: ImageOutcome[];
}

export async function checkOod(
  served: { model: InferenceModel; meta: CheckpointMeta; lungs?: LungField; ood: OodRecord | null },
  sets: OodInputSet[],
  o: { batch?: number; onImage?: (kind: string, done: number, total: number) => void } = {},
): Promise<OodKindResult[]> {
  const pre = preprocessOf(served.meta, undefined, undefined, served.lungs);
  const bs = o.batch ?? 8;
  const out: OodKindResult[] = [];
  for (const set of sets) {
    const outcomes: ImageOutcome[] = [];
    const waiting: Array<{ name: string; study: PreparedStudy }> = [];
    const flush = async () => {
      if (!waiting.length) return;
      const infs = await inferStudies(
        served.model,
        served.meta,
        waiting.map((w) => w.study),
      );
      waiting.forEach((w, i) => {
        outcomes.push(outcomeOf(w.name, w.study, studyVerdict(served.ood, w.study, infs[i])));
      });
      waiting.length = 0;
    };
    for (const [i, img] of set.images.entries()) {
      let study: PreparedStudy;
      try {
        study = await prepareStudy(await img.bytes(), pre);
      } catch (e) {
        if (!(e instanceof StudyInputError)) throw e;
        outcomes.push({ name: img.name, refusedBy: 'undecodable', shape: null, distance: null });
        continue;
      }
      const early = studyVerdict(served.ood, study);
      if (!early.frontal) outcomes.push(outcomeOf(img.name, study, early));
      else waiting.push({ name: img.name, study });
      if (waiting.length >= bs) await flush();
      o.onImage?.(set.kind, i + 1, set.images.length);
    }
    await flush();
    const byCheck: Record<string, number> = {};
    for (const r of outcomes) if (r.refusedBy) byCheck[r.refusedBy] = (byCheck[r.refusedBy] ?? 0) + 1;
    const refused = outcomes.filter((r) => r.refusedBy).length;
    out.push({
      kind: set.kind,
      frontal: set.frontal,
      synthetic: set.synthetic,
      source: set.source,
      images: outcomes.length,
      refused: wilson(refused, outcomes.length),
      byCheck,
      outcomes,
    });
  }
  return out;
}

function outcomeOf(name: string, study: PreparedStudy, v: FrontalVerdict): ImageOutcome {
  const failed = v.checks.find((c) => !c.passed);
  const dist = v.checks.find((c) => c.check === 'feature-distance');
  return {
    name,
    refusedBy: failed ? failed.check : null,
    shape: study.lungShape ?? null,
    distance: dist ? dist.value : null,
  };
}

/** The table `cxrtune ood check` prints: refused share per kind, frontal kinds as false refusals. */
export function formatOodTable(rows: OodKindResult[]): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const lines = [
    'kind                                  expect   images  refused           95 % CI            by check',
  ];
  for (const r of rows) {
    const checks = Object.entries(r.byCheck)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    lines.push(
      `${`${r.kind}${r.synthetic ? ' (synthetic)' : ''}`.padEnd(38)}${(r.frontal ? 'accept' : 'refuse').padEnd(9)}` +
        `${String(r.images).padStart(6)}  ${`${r.refused.num}/${r.refused.den} ${pct(r.refused.value)}`.padEnd(18)}` +
        `${`${pct(r.refused.lo)}–${pct(r.refused.hi)}`.padEnd(19)}${checks || '-'}`,
    );
  }
  const pool = (frontal: boolean) => {
    const rs = rows.filter((r) => r.frontal === frontal);
    return wilson(
      rs.reduce((a, r) => a + r.refused.num, 0),
      rs.reduce((a, r) => a + r.refused.den, 0),
    );
  };
  const bad = pool(false);
  const good = pool(true);
  lines.push(
    `non-frontal inputs refused: ${bad.num}/${bad.den} ${pct(bad.value)} (${pct(bad.lo)}–${pct(bad.hi)}); ` +
      `frontal radiographs falsely refused: ${good.num}/${good.den} ${pct(good.value)} ` +
      `(${pct(good.lo)}–${pct(good.hi)})`,
  );
  return lines;
}
