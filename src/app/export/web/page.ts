// The in-browser screening page (`cxrtune export RUN --format web`): a dropped PNG, JPEG or DICOM is
// decoded, prepared as the model's record says, checked for being a frontal chest radiograph and scored
// by onnxruntime-web (WebAssembly) in this tab. Nothing is sent anywhere: the page fetches only its own
// files (model-card.json, model.onnx, segmenter.onnx, ood.json, the ORT runtime) by relative URL.
//
// The numbers are the engine's own code, bundled from src/ at export time (esbuild): the resize and
// grey operations (data/preparePixels.ts), the DICOM native pixels (data/dicomPixels.ts), the lung box
// and field shape (data/lungCrop.ts, recipe/lungFields.ts), the refusal (recipe/frontalCheck.ts), the
// calibration and decision (recipe/calibrationMap.ts, recipe/threshold.ts) and the gradient-free
// Grad-CAM (engine/gradCam.ts classActivationMaps, recipe/gradcam.ts camHeatmap).
import dicomParser from 'dicom-parser';
import type * as Ort from 'onnxruntime-web';
import type { GrayImage } from '../../../data/image.js';
import { grayOfRgba, preparePixels } from '../../../data/preparePixels.js';
import { lungRegionOf } from '../../../data/lungCrop.js';
import { sniffFormat } from '../../../data/sniff.js';
import {
  assertPixelModule,
  assertSupported,
  decodeNative,
  headerOf,
  JPEG_BASELINE,
} from '../../../data/dicomPixels.js';
import { classActivationMaps } from '../../../engine/gradCam.js';
import { camHeatmap, turbo } from '../../../recipe/gradcam.js';
import { applyCalibration } from '../../../recipe/calibrationMap.js';
import { decideClass } from '../../../recipe/threshold.js';
import { lungFieldShape, type LungFieldShape } from '../../../recipe/lungFields.js';
import {
  featureCheck,
  lungFieldChecks,
  NOT_FRONTAL,
  type CheckResult,
  type FrontalVerdict,
  type OodRecord,
  verdictOf,
} from '../../../recipe/frontalCheck.js';
import type { WebCard } from './webCard.js';

const ORT_MODULE = './ort/ort.wasm.min.mjs';
const $ = (id: string) => document.getElementById(id)!;

interface Loaded {
  ort: typeof Ort;
  card: WebCard;
  model: Ort.InferenceSession;
  segmenter: Ort.InferenceSession | null;
  ood: OodRecord | null;
  weight: Float32Array;
}

/** What the last screening gave, for the page's tests (the same numbers the page shows). */
interface Outcome {
  input: number[];
  segmenterInput: number[] | null;
  lungShape: LungFieldShape | null;
  verdict: FrontalVerdict;
  probability: number | null;
  probabilities: number[] | null;
  label: string | null;
  camClass: number | null;
  heat: number[] | null;
  inferMs: number;
  totalMs: number;
}
declare global {
  interface Window {
    cxrtune?: { ready: boolean; threads: number; last: Outcome | null; error: string | null };
  }
}

function status(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url, { cache: 'no-cache' });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

async function load(): Promise<Loaded> {
  const ort = (await import(ORT_MODULE)) as typeof Ort;
  // Threads need SharedArrayBuffer, which only a cross-origin-isolated page has (COOP + COEP headers);
  // a plain static host is not, and the page then runs on one thread.
  const threads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  window.cxrtune = { ready: false, threads, last: null, error: null };
  const card = (await (await fetchOk('model-card.json')).json()) as WebCard;
  const opts: Ort.InferenceSession.SessionOptions = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const model = await ort.InferenceSession.create(card.files.model, opts);
  const segmenter = card.files.segmenter ? await ort.InferenceSession.create(card.files.segmenter, opts) : null;
  const ood = card.files.ood ? ((await (await fetchOk(card.files.ood)).json()) as OodRecord) : null;
  return { ort, card, model, segmenter, ood, weight: Float32Array.from(card.cam.weight) };
}

/** The file's pixels as one grey channel, decoded by the browser (PNG, JPEG) or dicom-parser (DICOM). */
async function decode(bytes: Uint8Array): Promise<GrayImage> {
  const format = sniffFormat(bytes);
  if (!format) throw new Error('not a PNG, JPEG or DICOM file (recognised by its bytes, not its name)');
  if (format === 'png' && bytes[24] === 16)
    throw new Error('16-bit PNG: the page reads 8-bit images (export the study as DICOM or 8-bit PNG)');
  if (format !== 'dicom') return bitmapGray(new Blob([bytes.slice()], { type: `image/${format}` }));
  const ds = dicomParser.parseDicom(bytes);
  const h = headerOf(ds, 'DICOM');
  assertSupported(h, 'DICOM');
  assertPixelModule(h, 'DICOM');
  const pe = ds.elements.x7fe00010;
  if (!pe) throw new Error('DICOM has no pixel data (7FE0,0010)');
  let img: GrayImage;
  if (h.transferSyntax === JPEG_BASELINE) {
    const frame =
      pe.fragments && pe.fragments.length > 0
        ? dicomParser.readEncapsulatedPixelDataFromFragments(ds, pe, 0, pe.fragments.length)
        : dicomParser.readEncapsulatedImageFrame(ds, pe, 0);
    img = await bitmapGray(new Blob([frame.slice()], { type: 'image/jpeg' }));
  } else img = { pixels: decodeNative(bytes, ds, pe, h, 'DICOM'), width: h.columns, height: h.rows };
  if (h.photometric === 'MONOCHROME1') for (let i = 0; i < img.pixels.length; i++) img.pixels[i] = 255 - img.pixels[i]!;
  return img;
}

async function bitmapGray(blob: Blob): Promise<GrayImage> {
  // As the engine reads the file: no EXIF rotation, no colour management, no premultiplied alpha.
  const bmp = await createImageBitmap(blob, {
    imageOrientation: 'none',
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
  });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext('2d', { willReadFrequently: true })!;
  g.drawImage(bmp, 0, 0);
  const data = g.getImageData(0, 0, bmp.width, bmp.height).data;
  return grayOfRgba(data, bmp.width, bmp.height);
}

function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const e = Float64Array.from({ length: logits.length }, (_, i) => Math.exp(logits[i]! - max));
  const s = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, (v) => v / s);
}

/** The lung segmenter on the whole image stretched to its input (LungField.fieldOf's reading). */
async function lungField(L: Loaded, raster: GrayImage) {
  const seg = L.card.segmenter!;
  const S = seg.size;
  const img = preparePixels(raster, { size: S, fit: 'stretch', equalize: 'none' });
  const out = await L.segmenter!.run({ pixels: new L.ort.Tensor('uint8', img.pixels, [1, S, S, 1]) });
  const logits = out.logits!.data as Float32Array;
  const cut = seg.threshold * 255;
  const mask = new Uint8Array(S * S);
  for (let j = 0; j < S * S; j++) mask[j] = Math.round(255 / (1 + Math.exp(-logits[j]!))) >= cut ? 1 : 0;
  return {
    input: img,
    region: lungRegionOf(mask, S, S, L.card.preprocessing.cropMargin),
    shape: lungFieldShape(mask, S, S, img.pixels),
  };
}

async function screen(L: Loaded, bytes: Uint8Array): Promise<Outcome> {
  const t0 = performance.now();
  const raster = await decode(bytes);
  const p = L.card.preprocessing;
  const field = L.segmenter ? await lungField(L, raster) : null;
  const checks: CheckResult[] = L.ood && field ? lungFieldChecks(field.shape, L.ood.lungFields) : [];
  const base = {
    segmenterInput: field ? Array.from(field.input.pixels) : null,
    lungShape: field?.shape ?? null,
  };
  const refused = (input: GrayImage, inferMs: number): Outcome => ({
    ...base,
    input: Array.from(input.pixels),
    verdict: verdictOf(checks),
    probability: null,
    probabilities: null,
    label: null,
    camClass: null,
    heat: null,
    inferMs,
    totalMs: performance.now() - t0,
  });
  const input = preparePixels(raster, {
    size: p.size,
    fit: p.fit,
    equalize: p.equalize,
    standardize: p.standardize,
    ...(p.crop === 'lungs' && field ? { region: field.region } : {}),
  });
  // A study the mask checks refuse never reaches the model (as on the server).
  if (checks.some((c) => !c.passed)) return refused(input, 0);
  const S = p.size;
  const t1 = performance.now();
  const out = await L.model.run({ pixels: new L.ort.Tensor('uint8', input.pixels, [1, S, S, 1]) });
  const inferMs = performance.now() - t1;
  const logits = out.logits!.data as Float32Array;
  const features = out.features!.data as Float32Array;
  const [, C, h, w] = out.features!.dims as number[];
  if (L.ood) {
    const pooled = new Float32Array(C!);
    for (let k = 0; k < C!; k++) {
      let s = 0;
      for (let q = 0; q < h! * w!; q++) s += features[k * h! * w! + q]!;
      pooled[k] = s / (h! * w!);
    }
    checks.push(featureCheck(L.ood.features, pooled));
    if (!checks[checks.length - 1]!.passed) return refused(input, inferMs);
  }
  const k = L.card.classes.length;
  const probs = applyCalibration(softmax(logits), k, L.card.positiveClassIndex, L.card.calibrationRecord);
  const probabilities = Array.from(probs);
  const called = decideClass(probabilities, L.card.positiveClassIndex, L.card.threshold);
  // The heatmap explains the positive class with two classes, the class called with more (as serve does).
  const camClass = k > 2 ? called : L.card.positiveClassIndex;
  const map = classActivationMaps(features, [1, C!, h!, w!], L.weight, camClass, { reluInHead: L.card.cam.reluInHead });
  const heat = camHeatmap(map, h!, w!, S, S);
  return {
    ...base,
    input: Array.from(input.pixels),
    verdict: verdictOf(checks),
    probability: probabilities[L.card.positiveClassIndex]!,
    probabilities,
    label: L.card.classes[called]!,
    camClass,
    heat: Array.from(heat),
    inferMs,
    totalMs: performance.now() - t0,
  };
}

function draw(o: Outcome, S: number): void {
  const canvas = $('view') as HTMLCanvasElement;
  canvas.width = S;
  canvas.height = S;
  const g = canvas.getContext('2d')!;
  const img = g.createImageData(S, S);
  const showHeat = ($('show-heat') as HTMLInputElement).checked && o.heat;
  for (let i = 0; i < S * S; i++) {
    const v = o.input[i]!;
    let [r, gg, b] = [v, v, v];
    if (showHeat) {
      const a = 0.5 * o.heat![i]!;
      const c = turbo(o.heat![i]!);
      r = (1 - a) * v + a * c[0];
      gg = (1 - a) * v + a * c[1];
      b = (1 - a) * v + a * c[2];
    }
    img.data.set([r, gg, b, 255], i * 4);
  }
  g.putImageData(img, 0, 0);
}

const pct = (p: number) => `${(p * 100).toFixed(1)} %`;

function show(L: Loaded, o: Outcome): void {
  $('result').hidden = false;
  const refusal = $('refusal');
  const score = $('score');
  if (!o.verdict.frontal) {
    refusal.hidden = false;
    score.hidden = true;
    // Never a score for a refused image, not even the previous study's left in the page.
    for (const id of ['probability', 'threshold', 'decision', 'timing']) $(id).textContent = '';
    $('refusal-text').textContent = `${NOT_FRONTAL[0]!.toUpperCase()}${NOT_FRONTAL.slice(1)}: ${o.verdict.reason}.`;
  } else {
    refusal.hidden = true;
    score.hidden = false;
    const positive = o.label === L.card.positiveClass;
    $('probability').textContent = pct(o.probability!);
    $('threshold').textContent = pct(L.card.threshold);
    const d = $('decision');
    d.textContent = positive ? `Above threshold: ${o.label}` : `Below threshold: ${o.label}`;
    d.className = positive ? 'decision positive' : 'decision negative';
    $('timing').textContent = `model ${o.inferMs.toFixed(0)} ms, total ${o.totalMs.toFixed(0)} ms in this browser`;
  }
  draw(o, L.card.preprocessing.size);
}

function fillCard(c: WebCard): void {
  const rows: Array<[string, string]> = [
    ['Architecture', c.arch],
    ['Classes', c.classes.join(', ')],
    ['Positive class', c.positiveClass],
    ['Threshold', `${pct(c.threshold)} (${c.thresholdRule})`],
    ['Calibration', c.calibration],
    ['Preprocessing', c.preprocessingText],
    ['Headline figure', c.headline],
    ['Refusal', c.files.ood ? 'lung fields and feature distance (ood.json)' : 'none: this model has no ood.json'],
    ['Weights SHA-256', c.weightsSha256],
    ['Intended use', c.intendedUse],
  ];
  const dl = $('card');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  $('model-name').textContent = `${c.arch} · ${c.classes.join(' / ')}`;
}

async function main(): Promise<void> {
  let L: Loaded;
  try {
    status('Loading the model…');
    L = await load();
  } catch (e) {
    status(`The model could not be loaded: ${(e as Error).message}`, true);
    if (window.cxrtune) window.cxrtune.error = (e as Error).message;
    return;
  }
  fillCard(L.card);
  let last: Outcome | null = null;
  const run = async (file: File) => {
    status(`Screening ${file.name ? 'the image' : 'the file'}…`);
    try {
      const o = await screen(L, new Uint8Array(await file.arrayBuffer()));
      last = o;
      window.cxrtune!.last = o;
      show(L, o);
      status(o.verdict.frontal ? 'Done. Read the film yourself: this is a second opinion.' : 'Refused.');
    } catch (e) {
      window.cxrtune!.error = (e as Error).message;
      status(`This file could not be read: ${(e as Error).message}`, true);
    }
  };
  const input = $('file') as HTMLInputElement;
  input.addEventListener('change', () => {
    if (input.files?.[0]) void run(input.files[0]);
  });
  const zone = $('drop');
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) void run(f);
  });
  $('show-heat').addEventListener('change', () => {
    if (last) draw(last, L.card.preprocessing.size);
  });
  $('threads').textContent =
    window.cxrtune!.threads > 1
      ? `${window.cxrtune!.threads} threads`
      : 'one thread (the page is not cross-origin isolated)';
  window.cxrtune!.ready = true;
  status('Ready. Drop a chest radiograph (PNG, JPEG or DICOM).');
}

void main();
