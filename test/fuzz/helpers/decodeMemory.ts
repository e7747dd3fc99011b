// Child process for the fuzz suite: runs every hostile member (all but the ok-* controls) of the adversarial corpus
// through prepareStudy (the server's decode path) and reports how much the process's peak
// RSS grew while refusing them (a fresh process, so the peak is theirs alone).
//   node --import tsx test/fuzz/helpers/decodeMemory.ts CACHE_DIR MAX_PIXELS
import { adversarialCorpus } from '../../fixtures/adversarial.js';
import { prepareStudy } from '../../../src/app/serve/screen.js';

const [dir, maxPixelsArg] = process.argv.slice(2);
const maxPixels = Number(maxPixelsArg);
const corpus = await adversarialCorpus(dir!);
// warm up
for (const c of corpus.filter((x) => x.name.startsWith('ok-'))) await prepareStudy(c.bytes, { size: 224, maxPixels });
const peak = () => process.resourceUsage().maxRSS * 1024;
const base = Math.max(peak(), process.memoryUsage().rss);
const cases = [];
for (const c of corpus.filter((x) => !x.name.startsWith('ok-'))) {
  const t0 = performance.now();
  let outcome = 'ok';
  try {
    await prepareStudy(c.bytes, { size: 224, maxPixels });
  } catch (e) {
    outcome = (e as { problem?: string }).problem ?? 'not a StudyInputError';
  }
  cases.push({ name: c.name, expect: c.expect, outcome, ms: performance.now() - t0 });
}
process.stdout.write(`${JSON.stringify({ peakGrowth: Math.max(0, peak() - base), cases })}\n`);
