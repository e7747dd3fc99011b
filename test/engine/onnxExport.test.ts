// The ONNX graphs the family files write (engine/onnx, engine/models, engine/segmentation),
// run by ONNX Runtime against the engine's own predict on the same weights (random, with
// BatchNorm statistics of their own) and pixels: every architecture and the segmenter, logits
// within 1e-4 × max(1, |logit|) in fp32, the same arg-max, masks with Dice ≥ 0.999; a planted
// slip (a missing residual, a wrong stride) fails the same comparison; the CAM from the
// `features` output and the classifier's weight equals the engine's Grad-CAM; every file passes
// Debian's ONNX reference checker (onnx.checker.check_model, full_check).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Model } from '../../src/engine/model.js';
import { classActivationMaps } from '../../src/engine/gradCam.js';
import { familyOf } from '../../src/engine/models/registry.js';
import { projectRoot } from '../../src/engine/native.js';
import { classifierGraph } from '../../src/engine/onnx/classifierOnnx.js';
import { onnxInitializer, type OnnxGraph } from '../../src/engine/onnx/graph.js';
import { segmenterGraph } from '../../src/engine/segmentation/segmenterOnnx.js';
import { SEGMENTER_ARCHS } from '../../src/engine/segmentation/segmenterSpec.js';
import { manualSeed, setThreads } from '../../src/engine/runtime.js';
import { ARCHS, type Arch, type Batch } from '../../src/engine/types.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { decodeImage } from '../../src/data/image.js';
import { generatePhantom } from '../../src/data/phantom.js';
import { withBatchNormStats } from './helpers/batchNormStats.js';
import { fromFloat32, toFloat32 } from '../../src/engine/dtype.js';

const PY = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
const SIZE = 64;
const SHARED = join(projectRoot(), '..', 'shared');
const NIH = join(SHARED, 'data', 'nih', 'No_findings');
const PRETRAINED_MOBILENET = join(SHARED, 'pretrained', 'mobilenet_v2-imagenet-ptq.safetensors');

const dir = mkdtempSync(join(tmpdir(), 'cxrtune-onnx-'));
after(() => rmSync(dir, { recursive: true, force: true }));
setThreads(2);

/** Seeded pixels, [n, s, s, c]. */
function pixelsOf(n: number, s: number, c: 1 | 3, seed: number): Batch {
  const px = new Uint8Array(n * s * s * c);
  let x = seed;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return { pixels: px, shape: [n, s, s, c] };
}

async function classifier(arch: Arch, seed: number): Promise<Model> {
  manualSeed(seed);
  const m = await Model.create({ arch, numClasses: 2 });
  await withBatchNormStats(m, seed);
  return m;
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, interOpNumThreads: 1 });
}

async function runOnnx(s: ort.InferenceSession, b: Batch): Promise<Record<string, ort.Tensor>> {
  return s.run({ pixels: new ort.Tensor('uint8', b.pixels, b.shape) });
}

/** Largest |Δ| / max(1, |engine|): the tolerance is 1e-4 of it. */
function worst(engine: Float32Array, onnx: Float32Array): { rel: number; abs: number } {
  assert.equal(onnx.length, engine.length);
  let rel = 0;
  let abs = 0;
  for (let i = 0; i < engine.length; i++) {
    const d = Math.abs(engine[i]! - onnx[i]!);
    abs = Math.max(abs, d);
    rel = Math.max(rel, d / Math.max(1, Math.abs(engine[i]!)));
  }
  return { rel, abs };
}

function argmaxes(logits: Float32Array, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < logits.length / k; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    out.push(best);
  }
  return out;
}

function pearson(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Writes the file for the reference checker and returns its bytes. */
function encoded(g: OnnxGraph, name: string): Uint8Array {
  const bytes = g.encode({ name, doc: 'test', metadata: { model_card: '{}' }, producerVersion: 'test' });
  writeFileSync(join(dir, `${name}.onnx`), bytes);
  return bytes;
}

interface Parity {
  rel: number;
  abs: number;
  argmax: boolean;
}
const table: Record<string, Parity & { dice?: number }> = {};

/** The engine's logits against ONNX Runtime's on `b`. */
async function parity(m: Model, s: ort.InferenceSession, b: Batch): Promise<Parity> {
  const e = (await m.predict(b)).logits;
  const o = (await runOnnx(s, b)).logits!.data as Float32Array;
  const k = m.spec.numClasses;
  return { ...worst(e, o), argmax: argmaxes(e, k).join() === argmaxes(o, k).join() };
}

for (const arch of ARCHS) {
  test(`${arch}: ONNX Runtime on the exported graph = the engine's predict`, async () => {
    const m = await classifier(arch, arch.length);
    const g = classifierGraph({ arch, state: await m.state(), size: SIZE, normalisation: m.spec.normalisation });
    const s = await session(encoded(g, arch));
    // RGB and grayscale input (the graph replicates one channel to three, as the engine does).
    for (const b of [pixelsOf(2, SIZE, 3, 11), pixelsOf(2, SIZE, 1, 12)]) {
      const p = await parity(m, s, b);
      table[arch] = {
        rel: Math.max(p.rel, table[arch]?.rel ?? 0),
        abs: Math.max(p.abs, table[arch]?.abs ?? 0),
        argmax: p.argmax && (table[arch]?.argmax ?? true),
      };
      assert.ok(p.rel <= 1e-4, `${arch} [${b.shape}]: max |Δlogit| ${p.abs} (${p.rel} of max(1, |logit|)) > 1e-4`);
      assert.ok(p.argmax, `${arch}: arg-max differs`);
    }
    // `features` is the Grad-CAM layer's output: its spatial mean is the engine's pooled features.
    const b = pixelsOf(2, SIZE, 3, 13);
    const out = await runOnnx(s, b);
    const f = out.features!;
    const [n, c, h, w] = f.dims as [number, number, number, number];
    const pooled = new Float32Array(n * c);
    const fd = f.data as Float32Array;
    for (let i = 0; i < n * c; i++) {
      let sum = 0;
      for (let p = 0; p < h * w; p++) sum += fd[i * h * w + p]!;
      pooled[i] = sum / (h * w);
    }
    const ef = await m.features(b);
    assert.deepEqual(ef.shape, [n, c]);
    // Against the largest feature: a deep random network's features span orders of magnitude.
    const fw = worst(ef.features, pooled).abs / Math.max(1, ...Array.from(ef.features, Math.abs));
    assert.ok(fw <= 1e-4, `${arch}: features differ from the ${familyOf(arch).camLayer} block's (${fw})`);
    await s.release();
  });
}

for (const arch of SEGMENTER_ARCHS) {
  test(`${arch}: ONNX Runtime's masks = the engine's (Dice ≥ 0.999)`, async () => {
    manualSeed(arch.length);
    const m = await Model.create({ task: 'segment', arch });
    await withBatchNormStats(m, arch.length);
    const b = pixelsOf(2, SIZE, 1, 21);
    // The head's bias set to the median logit's negative: half of the pixels in the mask, many
    // of them near the boundary, so the Dice tests the masks and not an empty or full one.
    const state = await m.state();
    const median = Array.from((await m.predict(b)).logits).sort((x, y) => x - y)[SIZE * SIZE]!;
    const bias = toFloat32(state.get('segmentation_head.0.bias')!);
    state.set('segmentation_head.0.bias', fromFloat32([bias[0]! - median], [1]));
    await m.loadState(state);
    const g = segmenterGraph({ arch, state, size: SIZE, normalisation: m.spec.normalisation });
    const s = await session(encoded(g, arch));
    const e = (await m.predict(b)).logits;
    const out = await runOnnx(s, b);
    assert.deepEqual(out.logits!.dims, [2, 1, SIZE, SIZE]);
    const o = out.logits!.data as Float32Array;
    let both = 0;
    let sum = 0;
    for (let i = 0; i < e.length; i++) {
      const a = e[i]! >= 0 ? 1 : 0; // sigmoid ≥ 0.5
      const c = o[i]! >= 0 ? 1 : 0;
      both += a * c;
      sum += a + c;
    }
    const dice = sum ? (2 * both) / sum : 1;
    const d = worst(e, o);
    table[arch] = { ...d, argmax: true, dice };
    assert.ok(
      sum > 0.5 * e.length && sum < 1.5 * e.length,
      `${arch}: about half of the pixels in the masks (${sum / 2})`,
    );
    assert.ok(dice >= 0.999, `${arch}: Dice ${dice}`);
    assert.ok(d.rel <= 1e-4, `${arch}: max |Δlogit| ${d.abs}`);
    await s.release();
  });
}

test('a planted slip fails the parity check: a missing residual, a wrong stride', async () => {
  const m = await classifier('resnet18', 5);
  const state = await m.state();
  const b = pixelsOf(2, SIZE, 3, 31);
  const slips: Record<string, (g: OnnxGraph) => void> = {
    'layer2.1 without its residual': (g) => {
      const add = g.nodes.find((n) => n.name === 'layer2.1.add')!;
      Object.assign(add, { op: 'Identity', inputs: [add.inputs[0]!] });
    },
    'the stem max-pool at stride 1': (g) => {
      g.nodes.find((n) => n.name === 'maxpool')!.attrs.strides = [1, 1];
    },
  };
  const clean = await parity(
    m,
    await session(
      classifierGraph({ arch: 'resnet18', state, size: SIZE, normalisation: m.spec.normalisation }).encode({
        name: 'x',
        doc: '',
        metadata: {},
        producerVersion: 'test',
      }),
    ),
    b,
  );
  assert.ok(clean.rel <= 1e-4, 'the unaltered graph passes');
  for (const [what, slip] of Object.entries(slips)) {
    const g = classifierGraph({ arch: 'resnet18', state, size: SIZE, normalisation: m.spec.normalisation });
    slip(g);
    const p = await parity(
      m,
      await session(g.encode({ name: 'x', doc: '', metadata: {}, producerVersion: 'test' })),
      b,
    );
    table[`slip: ${what}`] = p;
    assert.ok(p.rel > 1e-2, `${what}: the comparison must fail (max |Δlogit| ${p.abs})`);
  }
});

/** The CAM from ONNX Runtime's `features` and the file's classifier weight against the engine's Grad-CAM. */
async function camAgreement(m: Model, bytes: Uint8Array, b: Batch) {
  const fam = familyOf(m.spec.arch);
  const s = await session(bytes);
  const f = (await runOnnx(s, b)).features!;
  const weight = onnxInitializer(bytes, `${fam.classifier}.weight`).data;
  const shape = f.dims as [number, number, number, number];
  const out: { gradCam: number; plainCam?: number; scale: number }[] = [];
  for (const cls of [0, 1]) {
    const engine = await m.gradCamMaps(b, cls);
    const cam = classActivationMaps(f.data as Float32Array, shape, weight, cls, {
      reluInHead: !!fam.reluAfterCamLayer,
    });
    let scale = 0;
    for (let i = 0; i < cam.length; i++) scale = Math.max(scale, Math.abs(engine.maps[i]!));
    const r = { gradCam: pearson(engine.maps, cam), scale: worst(engine.maps, cam).abs / (scale || 1) };
    // The plain CAM (Σ w·relu(A) for DenseNet), to show what the ReLU's gate changes.
    if (fam.reluAfterCamLayer) {
      const relu = Float32Array.from(f.data as Float32Array, (v) => Math.max(v, 0));
      const plain = classActivationMaps(relu, shape, weight, cls, { reluInHead: false });
      Object.assign(r, { plainCam: pearson(engine.maps, plain) });
    }
    out.push(r);
  }
  await s.release();
  return out;
}

const camTable: Record<string, { gradCam: number; plainCam?: number; scale: number }[]> = {};
const CAM_ARCHS: Arch[] = ['resnet18', 'mobilenet_v2', 'densenet121'];

test('the CAM from `features` equals the engine Grad-CAM: phantoms', async () => {
  const S = 128;
  const px = new Uint8Array(2 * S * S);
  for (const i of [0, 1]) px.set(generatePhantom(3, i, { size: S }).pixels, i * S * S);
  const b: Batch = { pixels: px, shape: [2, S, S, 1] };
  for (const arch of CAM_ARCHS) {
    const m = await classifier(arch, 9);
    const bytes = classifierGraph({
      arch,
      state: await m.state(),
      size: S,
      normalisation: m.spec.normalisation,
    }).encode({ name: arch, doc: '', metadata: {}, producerVersion: 'test' });
    const r = await camAgreement(m, bytes, b);
    camTable[`phantoms ${arch}`] = r;
    for (const x of r) {
      assert.ok(x.gradCam >= 0.999, `${arch}: correlation ${x.gradCam}`);
      assert.ok(x.scale <= 1e-3, `${arch}: the same scale (1/(h·w)), off by ${x.scale} of the largest value`);
    }
  }
});

test('the CAM from `features` equals the engine Grad-CAM: real radiographs', async (t) => {
  if (!existsSync(NIH)) return t.skip(`${NIH} is absent (the shared NIH images)`);
  const S = 224;
  const files = readdirSync(NIH)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .slice(0, 2);
  const px = new Uint8Array(files.length * S * S);
  for (const [i, f] of files.entries()) px.set((await decodeImage(join(NIH, f), { size: S })).pixels, i * S * S);
  const b: Batch = { pixels: px, shape: [files.length, S, S, 1] };
  for (const arch of CAM_ARCHS) {
    const m = await classifier(arch, 17);
    // ImageNet features where the shared weights are at hand (a head of random weights on top).
    if (arch === 'mobilenet_v2' && existsSync(PRETRAINED_MOBILENET))
      await loadPretrained(m, PRETRAINED_MOBILENET, () => undefined);
    const bytes = classifierGraph({
      arch,
      state: await m.state(),
      size: S,
      normalisation: m.spec.normalisation,
    }).encode({ name: arch, doc: '', metadata: {}, producerVersion: 'test' });
    const r = await camAgreement(m, bytes, b);
    camTable[`NIH ${arch}`] = r;
    for (const x of r) assert.ok(x.gradCam >= 0.999, `${arch}: correlation ${x.gradCam}`);
  }
});

test("every exported file passes Debian's ONNX reference checker (full_check)", async (t) => {
  if (!existsSync(PY)) return t.skip(`${PY} is missing (npm run bootstrap installs python3-onnx)`);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => join(dir, f));
  assert.ok(files.length >= ARCHS.length + SEGMENTER_ARCHS.length, `${files.length} files exported`);
  const out = execFileSync(
    PY,
    [
      '-c',
      [
        'import onnx, sys',
        'for f in sys.argv[1:]:',
        '  onnx.checker.check_model(onnx.load(f), full_check=True)',
        '  print("ok", f)',
      ].join('\n'),
      ...files,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(
    out
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('ok ')).length,
    files.length,
  );
});

after(() => {
  if (process.env.CXRTUNE_ONNX_TABLE) {
    console.log(JSON.stringify({ parity: table, cam: camTable }, null, 1));
  }
});
