// The report's shortcut-audit section renders the audit's findings as data: the same audit gives
// the same HTML as when the report parsed the verdicts back out of the sentences. The expected
// HTML (plots left out: their SVG is vega's) is test/fixtures/auditSection.html, one element a line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  leaveOneSourceOut,
  metadataBaseline,
  occlusionTest,
  perSource,
  sourceProbe,
  worst,
} from '../../src/recipe/shortcutAudit.js';
import { bootstrapAuc } from '../../src/recipe/roc.js';
import { auditSection } from '../../src/app/report/auditSection.js';

/** 48 images from 3 sources, 2 labels, scores from a fixed linear congruential sequence. */
function auditInputs() {
  let s = 12345;
  const r = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const n = 48;
  const y = Int32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const sources = Array.from({ length: n }, (_, i) => (i < 16 ? 'hospital-a' : i < 40 ? 'hospital-b' : 'hospital-c'));
  const labels = Array.from(y, (v) => (v ? 'covid' : 'normal'));
  const patients = Array.from({ length: n }, (_, i) => `p${Math.floor(i / 2)}`);
  const full = Float64Array.from(y, (v) => Math.min(1, Math.max(0, 0.3 + 0.4 * v + 0.35 * (r() - 0.5))));
  const frame = Float64Array.from(y, (v) => Math.min(1, Math.max(0, 0.45 + 0.3 * v + 0.5 * (r() - 0.5))));
  const lungs = Float64Array.from(y, () => r());
  const d = 3;
  const feats = Float64Array.from(
    { length: n * d },
    (_, k) => r() + (sources[Math.floor(k / d)] === 'hospital-a' ? 0.8 : 0),
  );
  const cues = Float64Array.from({ length: n * 2 }, (_, k) => r() + (y[Math.floor(k / 2)] ? 0.3 : 0));
  return { n, y, sources, labels, patients, full, frame, lungs, d, feats, cues, threshold: 0.5934655070304871 };
}

/** An audit.json as `cxrtune audit` writes it, from the recipe's tests on the inputs above. */
function handMadeAudit() {
  const I = auditInputs();
  const stat = { bootstrap: 300, seed: 0 };
  const full = { auc: bootstrapAuc(I.full, I.y, { iterations: 300, seed: 0 }) };
  const frameOnly = occlusionTest('frame-only', I.frame, I.y, full.auc.value, I.threshold, stat);
  const lungsOut = occlusionTest('lungs-out', I.lungs, I.y, full.auc.value, I.threshold, stat);
  const probe = sourceProbe(I.feats, I.d, I.labels, I.sources, I.patients, { ...stat, k: 3 });
  const metadata = metadataBaseline(I.cues, ['cue one', 'cue two'], I.y, I.patients, { ...stat, k: 3 });
  const per = perSource(I.full, I.y, I.sources, I.threshold, stat);
  const loso = leaveOneSourceOut(I.full, I.y, I.labels, I.sources, stat);
  const tests = [frameOnly, lungsOut, probe, metadata, per, loso];
  const verdict = worst(tests.map((t) => t.verdict));
  return {
    model: { arch: 'resnet18', threshold: I.threshold, featureLayer: 'layer4', featureDims: 512 },
    data: {
      manifest: 'data/manifest.csv',
      split: 'valid',
      images: I.n,
      positives: 16,
      negatives: 32,
      patients: 24,
      lungRegion: { masks: 40, fixedBox: 8, ignoredMasks: 0 },
      blanked: { 'frame-only': 0.42, 'lungs-out': 0.31 },
    },
    full,
    frameOnly,
    lungsOut,
    sourceProbe: probe,
    metadata,
    perSource: per,
    leaveOneSourceOut: loso,
    verdict,
    findings: [
      { check: 'audit', verdict, text: `AUDIT: ${verdict.toUpperCase()} — headline` },
      { check: 'as is', verdict: null, text: `as is: AUC x on ${I.n} images` },
      ...tests.map(({ check, verdict, text }) => ({ check, verdict, text })),
    ],
    choices: { folds: 3, regions: 'fixed box' },
  };
}

const withoutPlots = (html: string) =>
  html.replace(/<div class="plot">[\s\S]*?<\/svg><\/div>/g, '<div class="plot"></div>');

test('audit section: the verdicts come from the findings, the HTML is as before', async () => {
  const a = handMadeAudit();
  // The recipe's verdicts on these inputs, as data: three flags, the rest pass.
  assert.deepEqual(
    a.findings.map((f) => [f.check, f.verdict]),
    [
      ['audit', 'flag'],
      ['as is', null],
      ['frame-only', 'flag'],
      ['lungs-out', 'pass'],
      ['source probe', 'flag'],
      ['metadata-only', 'flag'],
      ['per source', 'pass'],
      ['leave one source out', 'pass'],
    ],
  );
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-audit-section-'));
  writeFileSync(join(dir, 'audit.json'), JSON.stringify(a));
  const html = await auditSection(join(dir, 'audit.json'));
  assert.equal((html.match(/<div class="plot"><svg/g) ?? []).length, 2);
  const expected = readFileSync(new URL('../fixtures/auditSection.html', import.meta.url), 'utf8').replace(/\n/g, '');
  assert.equal(withoutPlots(html), expected);
});

test('audit section: an audit.json written with lines only still renders, the headline coloured', async () => {
  const { findings, ...rest } = handMadeAudit();
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-audit-section-'));
  writeFileSync(join(dir, 'audit.json'), JSON.stringify({ ...rest, lines: findings.map((f) => f.text) }));
  const html = await auditSection(join(dir, 'audit.json'));
  const items = [...html.matchAll(/<li class="([^"]*)">/g)].map((m) => m[1]);
  assert.deepEqual(items, ['bad', '', '', '', '', '', '', '']);
});
