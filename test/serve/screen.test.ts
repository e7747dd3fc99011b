// The study pipeline the server uses: content sniffing by magic bytes, and batched
// predict + Grad-CAM giving each study exactly what it gets alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadCheckpoint } from '../../src/engine/checkpoint.js';
import { inferStudies, prepareStudy, preprocessOf, screenStudy, sniffFormat } from '../../src/app/serve/screen.js';
import { StudyQueue } from '../../src/app/serve/studyQueue.js';
import { makeCheckpoint, phantomPng } from './fixture.js';

test('sniffFormat: PNG, JPEG and DICOM by their bytes; anything else is null', () => {
  assert.equal(sniffFormat(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])), 'png');
  assert.equal(sniffFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
  const dcm = Buffer.alloc(140);
  dcm.write('DICM', 128, 'latin1');
  assert.equal(sniffFormat(dcm), 'dicom');
  for (const b of [
    Buffer.alloc(0),
    Buffer.from('GIF89a....'),
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
    Buffer.from('%PDF-1.7'),
  ]) {
    assert.equal(sniffFormat(b), null);
  }
});

test(
  'a batch of studies gets the same probabilities and heatmaps as each alone; ' + 'the queue batches under load',
  async () => {
    const dir = await makeCheckpoint();
    try {
      const { model, meta } = await loadCheckpoint(dir);
      const pngs = await Promise.all([1, 2, 3].map((s) => phantomPng(256, s)));
      const pre = preprocessOf(meta);
      const studies = await Promise.all(pngs.map((p) => prepareStudy(p, pre)));
      const together = await inferStudies(model, meta, studies);
      for (const [i, p] of pngs.entries()) {
        const alone = await screenStudy(model, meta, p);
        assert.ok(
          Math.abs(alone.probability - together[i]!.probability) < 1e-4,
          `study ${i}: ${alone.probability} vs ${together[i]!.probability}`,
        );
        let maxDiff = 0;
        for (let j = 0; j < alone.heat.length; j++)
          maxDiff = Math.max(maxDiff, Math.abs(alone.heat[j]! - together[i]!.heat[j]!));
        assert.ok(maxDiff < 1e-3, `study ${i}: heatmaps differ by ${maxDiff}`);
      }
      const q = new StudyQueue(model, meta, pre, { capacity: 8, maxBatch: 4 });
      const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => q.submit(pngs[i % 3]!)));
      assert.ok(
        rs.some((r) => r.timings.batch > 1),
        'concurrent studies share an engine call',
      );
      rs.forEach((r, i) => {
        assert.ok(Math.abs(r.probability - together[i % 3]!.probability) < 1e-4);
      });
      assert.equal(q.stats().inFlight, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
