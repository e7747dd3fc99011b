// The report's limitations section, generated from the data: what a reader must know before
// trusting the numbers (source confounding, sample size, overlap, synthetic data, …).
import type { DatasetSummary } from '../../data/summary.js';
import type { Evaluation } from '../evaluate/evaluationRecord.js';
import { protocolOf } from '../evaluate/protocol.js';

const PEDIATRIC = /kermany|pediatric|paediatric|guangzhou/i;

export function limitations(
  data: DatasetSummary | null,
  evals: Evaluation[],
  positive: string,
  notes: string[] = [],
): string[] {
  const out: string[] = [];
  if (data) {
    const labels = Object.keys(data.counts);
    const sourcesOf = (l: string) => Object.keys(data.counts[l] ?? {});
    const posSources = sourcesOf(positive);
    const negLabels = labels.filter((l) => l !== positive);
    const negSources = [...new Set(negLabels.flatMap(sourcesOf))];
    const sharedSources = posSources.filter((s) => negSources.includes(s));
    if (posSources.length && negSources.length && sharedSources.length === 0) {
      out.push(
        `Positives (${positive}) come only from ${posSources.join(', ')} and negatives only from ` +
          `${negSources.join(', ')}: the model can separate the classes by source (hospital, scanner, markers, ` +
          'borders) without looking at the disease. Check the Grad-CAM figures and validate on a source it never ' +
          'saw.',
      );
    } else if (
      sharedSources.length &&
      sharedSources.length < posSources.length + negSources.length - sharedSources.length
    ) {
      out.push(
        `Only ${sharedSources.join(', ')} contribute${sharedSources.length === 1 ? 's' : ''} both classes; other ` +
          'sources hold one class only, so part of the signal may be the source.',
      );
    }
    const ped = negSources.filter((s) => PEDIATRIC.test(s));
    if (ped.length && !posSources.some((s) => PEDIATRIC.test(s))) {
      out.push(
        `Negatives include pediatric images (${ped.join(', ')}) while positives are adults: age (anatomy, size) ` +
          'is a shortcut the model may learn.',
      );
    }
    if (labels.every((l) => sourcesOf(l).every((s) => s === 'phantom'))) {
      out.push(
        'All images are synthetic phantoms: the numbers show that the pipeline works and where the model looks, ' +
          'not how it would perform on radiographs.',
      );
    }
    const counts = Object.values(data.labels);
    if (counts.length >= 2 && Math.max(...counts) > 1.5 * Math.min(...counts)) {
      out.push(
        `Classes are imbalanced (${Object.entries(data.labels)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}): accuracy alone is misleading; read sensitivity, specificity and the PR curve.`,
      );
    }
    if (data.sharedPatients > 0)
      out.push(
        `${data.sharedPatients} patient(s) appear in more than one split of the training manifest: validation ` +
          'metrics are optimistic.',
      );
    const perSplit = data.patientsPerSplit;
    for (const [s, n] of Object.entries(data.imagesPerSplit)) {
      if (perSplit[s] !== undefined && perSplit[s]! < n) {
        out.push(
          `Split '${s}' has ${n} images from ${perSplit[s]} patients: images of one patient are correlated, so ` +
            'intervals computed per image are somewhat too narrow.',
        );
        break;
      }
    }
    for (const n of data.notes) out.push(`Data note: ${n}`);
  } else {
    out.push('The training manifest was not available: the data summary and source checks are missing.');
  }
  for (const e of evals) {
    const m = e.metrics;
    if (m.positives < 100 || m.negatives < 100) {
      const w = (m.sensitivity.hi - m.sensitivity.lo) * 100;
      out.push(
        `${e.name}: ${m.positives} positives and ${m.negatives} negatives — small; the sensitivity interval ` +
          `alone spans ${Number.isFinite(w) ? w.toFixed(0) : '?'} percentage points.`,
      );
    }
    if (e.overlap.sharedPatients > 0) out.push(`${e.name}: ${e.overlap.note}.`);
    else if (!e.overlap.checked) out.push(`${e.name}: ${e.overlap.note}.`);
    if (m.calibration.ece > 0.1)
      out.push(
        `${e.name}: probabilities are poorly calibrated (ECE ${m.calibration.ece.toFixed(3)}); read them as ` +
          'scores, not risks.',
      );
  }
  const honest = evals.filter((e) => protocolOf(e).protocol !== 'internal');
  if (evals.length && !honest.length)
    out.push(
      'No source-held-out or external validation: every evaluated set holds out patients of the training sources ' +
        "(INTERNAL). Performance on another hospital's images is unknown.",
    );
  else if (evals.length && !evals.some((e) => protocolOf(e).protocol === 'external'))
    out.push(
      'Validation holds out whole sources or hospitals of the training collection (SOURCE-HELD-OUT), but no ' +
        'fully external set was evaluated.',
    );
  out.push(
    "The decision threshold was set before evaluation (or chosen on the validation set itself, where Youden's " +
      'point is quoted): a threshold chosen on the same data it is scored on is optimistic.',
  );
  out.push(...notes);
  return out;
}
