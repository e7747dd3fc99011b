// Calibrate's printout: the fit, then sensitivity and specificity per group before and after.
import type { CalibrateResult } from './calibrateRecord.js';

const pct = (p: { value: number; lo: number; hi: number; num: number; den: number }) =>
  p.den
    ? `${(100 * p.value).toFixed(1)} % (${(100 * p.lo).toFixed(1)}–${(100 * p.hi).toFixed(1)}, ${p.num}/${p.den})`
    : '—';

/** The CLI's table: the fit, then sensitivity/specificity per group before and after. */
export function formatCalibration(r: CalibrateResult): string {
  const f = r.fit;
  const fitLine = !f
    ? 'no calibration (threshold only)'
    : 'temperature' in f
      ? `temperature T = ${f.temperature.toFixed(4)}${f.atBound ? ' (at its bound: the sample is separated)' : ''}; ` +
        `NLL ${f.nllBefore.toFixed(4)} → ${f.nllAfter.toFixed(4)}`
      : `Platt a = ${f.a.toFixed(4)}, b = ${f.b.toFixed(4)} ` +
        `(targets ${f.targets.positive.toFixed(3)}/${f.targets.negative.toFixed(3)}); ` +
        `loss ${f.lossBefore.toFixed(4)} → ${f.lossAfter.toFixed(4)}`;
  const s = r.sample;
  const lines = [
    `[${r.protocol.protocol.toUpperCase()}] ${r.protocol.why}`,
    `${r.method}: fitted on ${s.n} images (${s.positives} positive, ${s.negatives} other) ` +
      `of ${s.manifest} [${s.split}]`,
    `  ${fitLine}`,
    `  AUC ${r.auc.value.toFixed(3)} (${r.auc.lo.toFixed(3)}–${r.auc.hi.toFixed(3)}, ` +
      `bootstrap; the same before and after)   ECE ${r.before.ece.toFixed(3)} → ${r.after.ece.toFixed(3)}`,
    `  threshold ${r.before.threshold.toFixed(4)} → ${r.after.threshold.toFixed(4)} (rule ${r.thresholdRule})`,
    `  ${s.by.padEnd(22)} ${'sensitivity before'.padEnd(30)} ${'sensitivity after'.padEnd(30)} ` +
      `${'specificity before'.padEnd(30)} specificity after`,
  ];
  const b = new Map(r.before.groups.map((g) => [g.group, g]));
  for (const g of [...r.after.groups, r.after.all]) {
    const x = g.group === 'all' && g === r.after.all ? r.before.all : b.get(g.group)!;
    lines.push(
      `  ${g.group.slice(0, 22).padEnd(22)} ${pct(x.sensitivity).padEnd(30)} ${pct(g.sensitivity).padEnd(30)} ` +
        `${pct(x.specificity).padEnd(30)} ${pct(g.specificity)}`,
    );
  }
  const h = r.heldApart;
  if (h) {
    // The figure that counts: images the fit and the threshold never saw.
    lines.push(
      `held apart: ${h.n} images (${h.positives} positive, ${h.negatives} other) the fit never saw → ${h.manifest}`,
      `  AUC ${h.auc.value.toFixed(3)} (${h.auc.lo.toFixed(3)}–${h.auc.hi.toFixed(3)})   ` +
        `ECE ${h.before.ece.toFixed(3)} → ${h.after.ece.toFixed(3)}`,
      `  sensitivity ${pct(h.before.all.sensitivity)} → ${pct(h.after.all.sensitivity)}`,
      `  specificity ${pct(h.before.all.specificity)} → ${pct(h.after.all.specificity)}`,
    );
  }
  lines.push(`wrote ${r.checkpoint} (model.json + the same model.safetensors) and ${r.files.json}`);
  return lines.join('\n');
}
