// Fuzz suite for the decoders (fast-check, fixed seed and run counts): mutated PNG/JPEG/DICOM
// bytes through every entry point (prepareStudy = the server's path, decodeImageBuffer = the
// data pipeline's, readDicomHeader = data build's) either decode within the limits or throw
// a readable one-line Error; plus the adversarial corpus, refused as expected and without
// the memory a decode would take.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import sharp, { type SharpOptions } from 'sharp';
import { prepareStudy, StudyInputError } from '../../src/app/serve/screen.js';
import { decodeImageBuffer } from '../../src/data/image.js';
import { decodeDicom, readDicomHeader } from '../../src/data/dicom.js';
import { errorMessage } from '../../src/util/errorMessage.js';
import { encodeDicom } from '../data/helpers/dicomWriter.js';
import { adversarialCorpus, type AdversarialCase } from '../fixtures/adversarial.js';
import { applyMutations, mutations, type Format } from './mutate.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const CACHE = join(tmpdir(), 'cxrtune-adversarial-v2');
const SEED = 20261126;
const RUNS_PER_SEED = 300;
/** 4× a seed's 64×64: a lie to 128×128 passes the pixel limit (and must then fail on the data), 129×128 does not. */
const LIMIT = 128 * 128;

/** A readable refusal: one line, a real message, no "[object Object]", no stack. */
function assertReadable(msg: unknown, context: string): void {
  assert.equal(typeof msg, 'string', `${context}: message is not a string`);
  const m = msg as string;
  assert.ok(m.length > 0 && m.length <= 1000, `${context}: message length ${m.length}`);
  assert.ok(!/[\r\n]/.test(m), `${context}: multi-line message: ${m}`);
  assert.ok(!m.includes('[object '), `${context}: ${m}`);
  assert.ok(!/^\s*(undefined|null)?\s*$/.test(m), `${context}: empty message`);
  assert.ok(!/\n\s+at /.test(m), `${context}: stack trace in message`);
}

interface Seed {
  name: string;
  format: Format;
  ext: string;
  bytes: Buffer;
}

let seeds: Seed[] = [];
let corpus: AdversarialCase[] = [];

before(async () => {
  const grey = new Uint8Array(64 * 64).map((_, i) => (i * 7) % 251);
  const raw = { raw: { width: 64, height: 64, channels: 1 as const } };
  const jpeg = await sharp(grey, raw).jpeg({ quality: 90 }).toBuffer();
  const wide = new Uint16Array(64 * 64).map((_, i) => (i * 13) % 4096);
  seeds = [
    { name: 'png8', format: 'png', ext: 'png', bytes: await sharp(grey, raw).png().toBuffer() },
    {
      name: 'png16',
      format: 'png',
      ext: 'png',
      bytes: await sharp(Buffer.from(wide.buffer), {
        raw: { width: 64, height: 64, channels: 1, depth: 'ushort' },
      } as SharpOptions)
        .toColourspace('grey16')
        .png()
        .toBuffer(),
    },
    { name: 'jpeg', format: 'jpeg', ext: 'jpg', bytes: jpeg },
    {
      name: 'dicom16',
      format: 'dicom',
      ext: 'dcm',
      bytes: encodeDicom({
        rows: 64,
        columns: 64,
        values: wide,
        bitsStored: 12,
        numberOfFrames: '00000001',
        windowCenter: 2048,
        windowWidth: 4096,
      }),
    },
    {
      name: 'dicom8',
      format: 'dicom',
      ext: 'dcm',
      bytes: encodeDicom({
        rows: 64,
        columns: 64,
        bitsAllocated: 8,
        values: grey,
        photometric: 'MONOCHROME1',
        numberOfFrames: '00000001',
      }),
    },
    {
      name: 'dicomJpeg',
      format: 'dicom',
      ext: 'dcm',
      bytes: encodeDicom({ rows: 64, columns: 64, bitsAllocated: 8, frame: jpeg, numberOfFrames: '00000001' }),
    },
  ];
  corpus = await adversarialCorpus(CACHE);
});

/** Width × height the input's own header claims (what the limit is about). */
async function claimedPixels(bytes: Buffer, format: Format): Promise<number> {
  if (format === 'dicom') {
    const h = readDicomHeader(bytes);
    return h.rows * h.columns;
  }
  const m = await sharp(bytes, { limitInputPixels: false }).metadata();
  return (m.width ?? 0) * (m.height ?? 0);
}

for (const name of ['png8', 'png16', 'jpeg', 'dicom16', 'dicom8', 'dicomJpeg']) {
  test(
    `fuzz ${name}: ${RUNS_PER_SEED} mutations through prepareStudy, decodeImageBuffer and readDicomHeader: ` +
      `decoded within limits or one readable line`,
    async () => {
      const seed = seeds.find((s) => s.name === name)!;
      // The unmutated seed decodes: the fuzz starts from honest bytes.
      assert.equal((await prepareStudy(seed.bytes, { size: 32, maxPixels: LIMIT })).input.width, 32);
      await fc.assert(
        fc.asyncProperty(mutations, async (ms) => {
          const bytes = applyMutations(seed.format, seed.bytes, ms);
          const ctx = `${name} ${JSON.stringify(ms)}`;
          // 1. The server's path.
          try {
            const s = await prepareStudy(bytes, { size: 32, maxPixels: LIMIT });
            assert.equal(s.input.pixels.length, 32 * 32);
            const px = await claimedPixels(bytes, s.format);
            assert.ok(px <= LIMIT, `${ctx}: decoded an image of ${px} pixels over the limit ${LIMIT}`);
          } catch (e) {
            if (!(e instanceof StudyInputError))
              throw new Error(`${ctx}: prepareStudy threw a non-StudyInputError: ${errorMessage(e)}`);
            assertReadable(e.message, ctx);
          }
          // 2. The data pipeline's path (format chosen by the file name, as in data build).
          try {
            const g = await decodeImageBuffer(bytes, `fuzz.${seed.ext}`, { size: 32, maxPixels: LIMIT });
            assert.equal(g.pixels.length, 32 * 32);
          } catch (e) {
            assert.ok(e instanceof Error, `${ctx}: decodeImageBuffer threw a non-Error`);
            assertReadable(e.message, ctx);
            assert.ok(
              e.message.startsWith(`fuzz.${seed.ext}: `),
              `${ctx}: message does not name the file: ${e.message}`,
            );
          }
          // 3. Header-only reads (data build's DICOM source) and the raw DICOM decoder.
          if (seed.format === 'dicom') {
            for (const call of [
              () => readDicomHeader(bytes, 'f.dcm'),
              () => decodeDicom(bytes, 'f.dcm', { maxPixels: LIMIT }),
            ]) {
              try {
                const r = await call();
                assert.ok(r.rows * r.columns <= LIMIT || !('pixels' in r), `${ctx}: decoded ${r.rows}×${r.columns}`);
              } catch (e) {
                assert.ok(e instanceof Error, `${ctx}: DICOM reader threw a non-Error`);
                assertReadable(e.message, ctx);
              }
            }
          }
        }),
        { seed: SEED, numRuns: RUNS_PER_SEED, endOnFailure: true },
      );
    },
  );
}

test('fuzz counts', async () => {
  // Its own sample of the mutations (the fuzz tests' seed and run count) through the server's path,
  // so that it holds when run alone.
  const counts: Record<string, number> = {};
  for (const seed of seeds) {
    for (const ms of fc.sample(mutations, { seed: SEED, numRuns: RUNS_PER_SEED })) {
      let outcome = 'ok';
      try {
        await prepareStudy(applyMutations(seed.format, seed.bytes, ms), { size: 32, maxPixels: LIMIT });
      } catch (e) {
        outcome = e instanceof StudyInputError ? e.problem : 'not_a_study_input_error';
      }
      counts[`${seed.name}:${outcome}`] = (counts[`${seed.name}:${outcome}`] ?? 0) + 1;
    }
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  console.log(`decoder fuzz: ${total} mutated inputs through prepareStudy; outcomes ${JSON.stringify(counts)}`);
  assert.equal(total, 6 * RUNS_PER_SEED);
  assert.ok(!Object.keys(counts).some((k) => k.endsWith(':not_a_study_input_error')), JSON.stringify(counts));
  // The mutations reach both sides: some decode, some are refused for size, some as corrupt.
  const sum = (re: RegExp) =>
    Object.entries(counts)
      .filter(([k]) => re.test(k))
      .reduce((a, [, v]) => a + v, 0);
  assert.ok(
    sum(/:ok$/) > 0 && sum(/:too_large$/) > 0 && sum(/:corrupt$/) > 0 && sum(/:unsupported_dicom$/) > 0,
    JSON.stringify(counts),
  );
});

test(
  'adversarial corpus: each member refused (or decoded) as expected, with a readable message, by every entry ' +
    'point',
  async () => {
    for (const c of corpus) {
      let got: string = 'ok';
      let msg = '';
      try {
        await prepareStudy(c.bytes, { size: 224 });
      } catch (e) {
        assert.ok(e instanceof StudyInputError, `${c.name}: ${errorMessage(e)}`);
        got = e.problem;
        msg = e.message;
        assertReadable(msg, c.name);
      }
      assert.equal(got, c.expect, `${c.name}: ${msg}`);
      if (c.message) assert.match(msg, c.message, c.name);
      // The data pipeline refuses the same inputs (its default limit is 64 Mpx).
      const ext = c.name.startsWith('dicom') ? 'dcm' : c.name.startsWith('png') ? 'png' : 'jpg';
      try {
        await decodeImageBuffer(c.bytes, `${c.name}.${ext}`, { size: 32 });
        assert.equal(c.expect, 'ok', `${c.name}: decoded by decodeImageBuffer`);
      } catch (e) {
        assert.ok(e instanceof Error && c.expect !== 'ok', `${c.name}: ${errorMessage(e)}`);
        assertReadable(e.message, c.name);
        if (c.expect === 'too_large') assert.match(e.message, /too large|does not match/, c.name);
      }
    }
    console.log(
      `adversarial corpus: ${corpus.length} members ` +
        `(${corpus.filter((c) => !c.name.startsWith('ok-')).length} hostile), all as expected`,
    );
  },
);

test(
  'the hostile corpus is refused before decoding: peak RSS grows < 48 MB over all of it (a decode of one bomb ' +
    'is 256 MB)',
  () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fuzz/helpers/decodeMemory.ts', CACHE, '25000000'], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      peakGrowth: number;
      cases: { name: string; expect: string; outcome: string; ms: number }[];
    };
    for (const c of out.cases) assert.equal(c.outcome, c.expect, c.name);
    const lie = out.cases.find((c) => c.name === 'dicom-header-lie-16000-jpeg')!;
    console.log(
      `hostile corpus in a fresh process: peak RSS +${(out.peakGrowth / 1048576).toFixed(1)} MB for ` +
        `${out.cases.length} inputs; header-lie DICOM refused in ${lie.ms.toFixed(1)} ms`,
    );
    assert.ok(out.peakGrowth < 48 * 1048576, `peak RSS grew ${(out.peakGrowth / 1048576).toFixed(1)} MB`);
  },
);
