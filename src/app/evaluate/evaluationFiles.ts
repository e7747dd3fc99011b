// The files evaluate writes beside metrics.json: predictions.csv (one line per image) and the
// confusion-matrix, ROC, PR and reliability plots as SVG.
import { formatCsv } from '../../data/csv.js';
import { rowPath, type Manifest } from '../../data/manifest.js';
import type { Summary } from '../../recipe/metrics.js';
import { confusionSpec, prSpec, reliabilitySpec, rocSpec } from '../report/evalPlots.js';
import { thresholdText } from '../report/figures.js';
import { renderSvg } from '../report/plots.js';
import type { PredictedSet } from '../train/predictSet.js';
import type { Evaluation } from './evaluationRecord.js';
import type { ScoredRow } from './scoring.js';

/**
 * predictions.csv: per image its path, patient, source, label, score, prediction, loss and every class's probability.
 */
export function predictionsCsv(manifest: Manifest, pred: PredictedSet, rows: ScoredRow[], cls: string[]): string {
  const header = [
    'row',
    'path',
    'patient_id',
    'source',
    'label',
    'probability',
    'predicted',
    'loss',
    ...cls.map((c) => `p_${c}`),
  ];
  const table = rows.map((r) => {
    const mr = manifest.rows[pred.rows[r.index]!]!;
    const rec: Record<string, unknown> = {
      row: pred.rows[r.index],
      path: rowPath(manifest, mr),
      patient_id: mr.patientId,
      source: mr.source,
      label: cls[r.label],
      probability: r.probability.toFixed(6),
      predicted: cls[r.predicted],
      loss: r.loss.toFixed(6),
    };
    cls.forEach((c, k) => {
      rec[`p_${c}`] = pred.probs[r.index * cls.length + k]!.toFixed(6);
    });
    return rec;
  });
  return formatCsv(header, table);
}

/** The confusion matrix, ROC and PR (both classes present only) and reliability plots. */
export async function writePlots(
  write: (file: string, data: string | Uint8Array) => Promise<void>,
  files: Evaluation['files'],
  summary: Summary,
  c: { name: string; cls: string[]; pc: number; threshold: number },
): Promise<void> {
  const { name, cls, pc, threshold } = c;
  const negName = cls.length === 2 ? cls[1 - pc]! : `not ${cls[pc]}`;
  const ops = [
    {
      fpr: 1 - summary.specificity.value,
      tpr: summary.sensitivity.value,
      label: `threshold ${thresholdText(threshold)}`,
    },
  ]
    .concat(
      summary.youden
        ? [
            {
              fpr: 1 - summary.youden.specificity,
              tpr: summary.youden.sensitivity,
              label: `Youden ${summary.youden.threshold.toFixed(3)}`,
            },
          ]
        : [],
    )
    .filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
  await write(
    files.confusion,
    await renderSvg(confusionSpec(summary.confusion, [negName, cls[pc]!], `Confusion matrix — ${name}`)),
  );
  if (summary.positives > 0 && summary.negatives > 0) {
    await write(files.roc, await renderSvg(rocSpec(summary.roc, summary.auc, ops, `ROC — ${name}`)));
    await write(
      files.pr,
      await renderSvg(
        prSpec(summary.pr, summary.averagePrecision, summary.positives / summary.n, `Precision–recall — ${name}`),
      ),
    );
  }
  await write(files.reliability, await renderSvg(reliabilitySpec(summary.calibration, `Reliability — ${name}`)));
}
