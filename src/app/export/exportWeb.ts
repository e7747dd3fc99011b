// `cxrtune export RUN --format web --out DIR`: a static folder that screens chest radiographs in the
// browser (onnxruntime-web, WebAssembly) with no server behind it: index.html, page.js (the page and
// the engine's own preprocessing, refusal and CAM code, bundled here with esbuild), page.css, the ORT
// runtime (ort/), model.onnx, segmenter.onnx (when the model crops lungs or carries a segmenter),
// ood.json (when the model has one) and model-card.json. docs/web.md says how to host it.
//
// Choices:
// - Bundled at export time from src/ (esbuild, which tsx brings): the page runs the same TypeScript as
//   the engine (data/preparePixels.ts, recipe/frontalCheck.ts, engine/gradCam.ts), never a copy.
// - Only the plain WebAssembly build of ORT is copied (ort.wasm.min.mjs and the SIMD-threaded
//   .wasm/.mjs pair): no WebGPU/WebGL/JSEP code, a smaller folder, one code path to test.
// - The classifier's weight travels in model-card.json (float32 values as JSON numbers round-trip), so
//   the page needs no protobuf reader for the CAM; ood.json is copied as written (it is plain JSON).
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { readCheckpointMeta, readModelJson, type CheckpointMeta } from '../../engine/checkpoint.js';
import { familyOf } from '../../engine/models/registry.js';
import { projectRoot } from '../../engine/native.js';
import { readSafetensors } from '../../engine/safetensors.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { segmenterDirOf, NO_SEGMENTER } from '../lungs/carriedSegmenter.js';
import { checkOodFor, OOD_FILE, readOodRecord } from '../ood/oodFile.js';
import { exportModel, type ExportResult } from './exportModel.js';
import { WEB_CARD_FORMAT, type WebCard } from './web/webCard.js';

/** The page's sources (served from src/ as the screening app's pages are). */
export const WEB_SOURCE_DIR = join(projectRoot(), 'src', 'app', 'export', 'web');
/** onnxruntime-web files the page loads: the module it imports and the WebAssembly pair behind it. */
export const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

export interface WebExportResult {
  out: string;
  /** Every file written, relative to out, with its size in bytes. */
  files: Array<{ file: string; bytes: number }>;
  model: ExportResult;
  segmenter: ExportResult | null;
  ood: boolean;
}

function ortDist(): string {
  const dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  for (const f of ORT_FILES)
    if (!existsSync(join(dist, f))) throw new Error(`onnxruntime-web is incomplete: ${join(dist, f)} is missing`);
  return dist;
}

async function bundlePage(): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error("export --format web needs esbuild (installed with cxrtune's development dependencies)");
  }
  const r = await esbuild.build({
    entryPoints: [join(WEB_SOURCE_DIR, 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  });
  return r.outputFiles[0]!.text;
}

const figureText = (f: Record<string, unknown> | null): string => {
  if (!f) return 'none recorded';
  const metrics = (f.metrics as Array<{ name: string; value: number; ci?: [number, number] }>) ?? [];
  const m = metrics
    .map((x) => `${x.name} ${x.value.toFixed(3)}${x.ci ? ` (${x.ci[0].toFixed(3)}–${x.ci[1].toFixed(3)})` : ''}`)
    .join(', ');
  return `${String(f.label)}: ${m || 'no figures'} on ${String(f.name)}${f.n ? `, n = ${String(f.n)}` : ''}`;
};

function calibrationText(c: unknown): string {
  if (!c || typeof c !== 'object') return 'none (the softmax as trained)';
  const o = c as { method: string; n: number | null; eceBefore: number | null; eceAfter: number | null };
  const ece =
    o.eceBefore !== null && o.eceAfter !== null ? `, ECE ${o.eceBefore.toFixed(3)} → ${o.eceAfter.toFixed(3)}` : '';
  return `${o.method}${o.n ? ` fitted on ${o.n} images` : ''}${ece}`;
}

export async function exportWeb(o: { model: string; out: string }): Promise<WebExportResult> {
  const out = resolve(o.out);
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new Error(`export --format web: ${o.out} is a file, not a folder`);
  const top = join(resolve(o.model), 'model.json');
  if (
    existsSync(top) &&
    (await readModelJson<{ format?: unknown; task?: string }>(resolve(o.model))).meta.task === 'segmentation'
  )
    throw new Error(`export --format web needs a classifier; ${o.model} is a lung segmenter`);
  const model = await exportModel({ model: o.model, format: 'onnx', out: join(out, 'model.onnx') });
  const dir = model.checkpoint;
  const meta: CheckpointMeta = await readCheckpointMeta(dir);
  if (meta.preprocessing.equalize === 'clahe')
    throw new Error('export --format web: this model equalises with CLAHE, which the page does not reproduce');
  const family = familyOf(meta.arch);
  const segDir = segmenterDirOf(dir, meta);
  if (meta.preprocessing.crop === 'lungs' && !segDir) throw new Error(NO_SEGMENTER);
  const segmenter = segDir
    ? await exportModel({ model: segDir, format: 'onnx', out: join(out, 'segmenter.onnx') })
    : null;
  const ood = await readOodRecord(dir);
  if (ood) {
    checkOodFor(ood, model.weightsSha256, dir);
    if (ood.features.layer !== family.camLayer)
      throw new Error(`${join(dir, OOD_FILE)} was fitted on layer ${ood.features.layer}, not ${family.camLayer}`);
    copyFileSync(join(dir, OOD_FILE), join(out, OOD_FILE));
  }
  const { tensors } = await readSafetensors(join(dir, 'model.safetensors'));
  const w = tensors.get(`${family.classifier}.weight`);
  if (w?.dtype !== 'F32') throw new Error(`${dir}: no float32 ${family.classifier}.weight in model.safetensors`);
  const c = model.card;
  const segCard = segmenter?.card as { preprocessingRecord: { size: number }; threshold: number } | undefined;
  const card: WebCard = {
    format: WEB_CARD_FORMAT,
    arch: meta.arch,
    classes: meta.classes,
    positiveClass: meta.classes[meta.positiveClass]!,
    positiveClassIndex: meta.positiveClass,
    threshold: meta.threshold,
    thresholdRule: (c.thresholdRule as string | null) ?? 'not recorded',
    calibration: calibrationText(c.calibration),
    calibrationRecord: (meta.calibration ?? null) as WebCard['calibrationRecord'],
    preprocessing: meta.preprocessing,
    preprocessingText: String(c.preprocessing),
    headline: figureText(c.headline as Record<string, unknown> | null),
    weightsSha256: model.weightsSha256,
    intendedUse: String(c.intendedUse),
    disclaimer: String(c.disclaimer),
    cam: {
      layer: family.camLayer,
      weight: Array.from(new Float32Array(w!.data.slice().buffer)),
      channels: w.shape[1]!,
      reluInHead: !!family.reluAfterCamLayer,
    },
    segmenter:
      segmenter && segCard
        ? {
            arch: segmenter.arch,
            size: segCard.preprocessingRecord.size,
            threshold: segCard.threshold,
            weightsSha256: segmenter.weightsSha256,
          }
        : null,
    files: { model: 'model.onnx', segmenter: segmenter ? 'segmenter.onnx' : null, ood: ood ? OOD_FILE : null },
    onnxCard: c,
  };
  await writeFileAtomic(join(out, 'model-card.json'), `${JSON.stringify(card)}\n`);
  await writeFileAtomic(join(out, 'page.js'), await bundlePage());
  for (const f of ['index.html', 'page.css']) copyFileSync(join(WEB_SOURCE_DIR, f), join(out, f));
  const dist = ortDist();
  mkdirSync(join(out, 'ort'), { recursive: true });
  for (const f of ORT_FILES) copyFileSync(join(dist, f), join(out, 'ort', f));
  const written = [
    'index.html',
    'page.js',
    'page.css',
    'model-card.json',
    'model.onnx',
    ...(segmenter ? ['segmenter.onnx'] : []),
    ...(ood ? [OOD_FILE] : []),
    ...ORT_FILES.map((f) => `ort/${f}`),
  ];
  return {
    out,
    files: written.map((file) => ({ file, bytes: statSync(join(out, file)).size })),
    model,
    segmenter,
    ood: !!ood,
  };
}

/** Human summary of a web export, for the CLI. */
export function formatWebExport(r: WebExportResult): string {
  const mib = (b: number) => (b < 2 ** 20 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
  const total = r.files.reduce((a, f) => a + f.bytes, 0);
  return [
    `web page for ${r.model.arch} → ${r.out} (${r.files.length} files, ${mib(total)})`,
    ...r.files.map((f) => `  ${f.file.padEnd(34)} ${mib(f.bytes)}`),
    `  refusal of non-frontal images: ${r.ood ? 'on (ood.json)' : 'off: this model has no ood.json (cxrtune ood fit)'}`,
    '  host the folder on any static web server (not file://); it fetches only its own files',
  ].join('\n');
}
