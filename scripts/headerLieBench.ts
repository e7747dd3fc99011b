// Time and memory of refusing the header-lie DICOM (64×64 header, 16000×16000 embedded JPEG)
// through prepareStudy, the server's decode path. Each sample is a fresh process (so the
// peak RSS is this request's); prints the median of N.
//   node --import tsx scripts/headerLieBench.ts [N=5] [MAX_PIXELS=25000000]
// (a MAX_PIXELS above 256 Mpx lets the JPEG pass the pixel limit: then the size mismatch refuses it)
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (process.argv[2] === '--child') {
  const maxPixels = Number(process.argv[3]);
  const { adversarialCorpus } = await import('../test/fixtures/adversarial.js');
  const { prepareStudy } = await import('../src/app/serve/screen.js');
  const corpus = await adversarialCorpus(join(tmpdir(), 'cxrtune-adversarial-v2'));
  const lie = corpus.find((c) => c.name === 'dicom-header-lie-16000-jpeg')!;
  const ok = corpus.find((c) => c.name === 'ok-dicom-jpeg')!;
  await prepareStudy(ok.bytes, { size: 224, maxPixels }); // warm sharp up
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const peak0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let outcome = 'decoded';
  try {
    await prepareStudy(lie.bytes, { size: 224, maxPixels });
  } catch (e) {
    outcome = (e as Error).message;
  }
  const ms = performance.now() - t0;
  const peak = Math.max(0, process.resourceUsage().maxRSS * 1024 - Math.max(peak0, rss0));
  console.log(JSON.stringify({ ms, rssDelta: process.memoryUsage().rss - rss0, peakDelta: peak, outcome }));
} else {
  const n = Number(process.argv[2] ?? 5);
  const maxPixels = process.argv[3] ?? '25000000';
  const runs = [];
  for (let i = 0; i < n; i++) {
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', new URL(import.meta.url).pathname, '--child', maxPixels],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    runs.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
  }
  const med = (k: string) => runs.map((r) => r[k] as number).sort((a, b) => a - b)[Math.floor(n / 2)];
  const mb = (x: number) => `${x < 0 ? '−' : '+'}${(Math.abs(x) / 1048576).toFixed(1)}`;
  console.log(
    runs.map((r) => `  ${r.ms.toFixed(1)} ms, rss ${mb(r.rssDelta)} MB, peak ${mb(r.peakDelta)} MB`).join('\n'),
  );
  console.log(
    `median of ${n}: ${med('ms').toFixed(1)} ms, rss ${mb(med('rssDelta'))} MB, peak ` +
      `${mb(med('peakDelta'))} MB; outcome: ${runs[0].outcome}`,
  );
}
