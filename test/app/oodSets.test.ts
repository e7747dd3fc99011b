// The inputs `cxrtune ood check` measures the refusal on: each frontal source of the data folder
// becomes its own kind, its files outside the model's manifests only, sampled to the cap with a
// seed; the inverted films come from the held-out frontal ones; a missing source is no kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oodSets } from '../../src/bench/oodSets.js';

const data = mkdtempSync(join(tmpdir(), 'cxrtune-oodsets-'));
const files: Record<string, string[]> = {
  'nih/No_findings': ['n1.png', 'n2.png', 'n3.png'],
  'nih/Pneumonia': ['p1.png'],
  'lungs/shenzhen/images': ['s1.png', 's2.png'],
  'lungs/montgomery/images': ['m1.png'],
  'kermany/NORMAL': ['k1.jpeg', 'k2.jpeg', 'k3.jpeg', 'k4.jpeg'],
  'cxnet/images': ['c1.jpg'],
};
for (const [d, names] of Object.entries(files)) {
  mkdirSync(join(data, d), { recursive: true });
  for (const n of names) writeFileSync(join(data, d, n), 'x');
}
const manifest = join(data, 'seen.csv');
const seenFiles = ['nih/No_findings/n1.png', 'lungs/montgomery/images/m1.png'];
writeFileSync(manifest, `path,label\n${seenFiles.map((f) => `${join(data, f)},normal\n`).join('')}`);

test('every frontal source is a kind of its own, without the images the model saw, capped per source', () => {
  const sets = oodSets({ data, seen: [manifest], maxPerSource: 3 });
  const frontal = Object.fromEntries(sets.filter((s) => s.frontal).map((s) => [s.kind, s.images.map((i) => i.name)]));
  assert.deepEqual(Object.keys(frontal).sort(), [
    'frontal: Kermany paediatric',
    'frontal: NIH held out',
    'frontal: Shenzhen held out',
    'frontal: cxnet figures',
  ]);
  // n1 was seen: three held out, all kept; Montgomery's only film was seen: no kind.
  assert.deepEqual(frontal['frontal: NIH held out']!.map((f) => f.split('/').pop()).sort(), [
    'n2.png',
    'n3.png',
    'p1.png',
  ]);
  assert.equal(frontal['frontal: Kermany paediatric']!.length, 3);
  assert.match(sets.find((s) => s.kind === 'frontal: Kermany paediatric')!.source, /3 of the 4 images outside/);
  // The same seed draws the same sample.
  const again = oodSets({ data, seen: [manifest], maxPerSource: 3 });
  assert.deepEqual(
    again.find((s) => s.kind === 'frontal: Kermany paediatric')!.images.map((i) => i.name),
    frontal['frontal: Kermany paediatric'],
  );
  const inverted = sets.find((s) => s.kind === 'inverted radiographs')!;
  assert.equal(inverted.frontal, false);
  assert.deepEqual(
    inverted.images.map((i) => i.name),
    frontal['frontal: NIH held out']!.map((f) => `inverted ${f}`),
  );
  // Synthetic kinds are always there and say so.
  assert.deepEqual(
    sets.filter((s) => s.synthetic).map((s) => s.kind),
    ['blank images', 'noise images', 'rendered scenes'],
  );
});
