// `cxrtune weights list`: weights already on this machine — torch hub's checkpoints,
// the Hugging Face hub cache, cxrtune's own imports — with the architecture each holds
// (from its names, its timm config or its file name) and whether cxrtune can use it.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cxrtuneWeightsCache, hfHubCache, hubSnapshot, torchHubCheckpoints } from '../../engine/weights/caches.js';
import { resolveWeightsFile, weightsInfo } from '../../engine/weights/weightsFile.js';
import { archFromFileName } from '../../engine/weights/archOf.js';

interface LocalWeights {
  cache: 'torch-hub' | 'hf-hub' | 'cxrtune';
  /** What to pass to --pretrained / weights import. */
  id: string;
  file: string;
  bytes: number;
  arch: string | null;
  /** Why it cannot be used, when it cannot. */
  problem?: string;
}

type Env = Record<string, string | undefined>;

async function describe(cache: LocalWeights['cache'], id: string, file: string): Promise<LocalWeights> {
  const bytes = existsSync(file) ? statSync(file).size : 0;
  try {
    const info = await weightsInfo(file);
    return {
      cache,
      id,
      file: info.file,
      bytes: statSync(info.file).size,
      arch: info.metadata.arch ?? null,
      ...(info.metadata.arch ? {} : { problem: 'architecture not recognised' }),
    };
  } catch (e) {
    return {
      cache,
      id,
      file,
      bytes,
      arch: archFromFileName(file),
      problem: (e as Error).message.replace(file, '').replace(/^\s*(\(data\.pkl\))?[\s:]*/, ''),
    };
  }
}

export async function listLocalWeights(
  env: Env = process.env,
): Promise<{ places: Record<LocalWeights['cache'], string>; weights: LocalWeights[] }> {
  const places = {
    'torch-hub': torchHubCheckpoints(env),
    'hf-hub': hfHubCache(env),
    cxrtune: cxrtuneWeightsCache(env),
  };
  const out: LocalWeights[] = [];
  const dir = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);
  for (const f of dir(places['torch-hub'])) {
    if (/\.(pth|pt|bin|ckpt|tar|safetensors)$/i.test(f))
      out.push(await describe('torch-hub', join(places['torch-hub'], f), join(places['torch-hub'], f)));
  }
  for (const d of dir(places['hf-hub'])) {
    const m = /^models--([^-].*?)--(.+)$/.exec(d);
    if (!m) continue;
    const id = `${m[1]}/${m[2]}`;
    const snap = hubSnapshot(id, 'main', env);
    let file: string | null = null;
    try {
      file = snap ? resolveWeightsFile(snap) : null;
    } catch {
      /* no weights file in the snapshot */
    }
    if (file) out.push(await describe('hf-hub', id, file));
    else
      out.push({
        cache: 'hf-hub',
        id,
        file: join(places['hf-hub'], d),
        bytes: 0,
        arch: null,
        problem: 'no weights file in its snapshot (download incomplete?)',
      });
  }
  for (const d of dir(places.cxrtune)) {
    const json = join(places.cxrtune, d, 'model.json');
    const file = join(places.cxrtune, d, 'model.safetensors');
    if (!existsSync(json) || !existsSync(file)) continue;
    let arch: string | null = null;
    try {
      arch = (JSON.parse(readFileSync(json, 'utf8')) as { arch?: string }).arch ?? null;
    } catch {
      /* described below */
    }
    out.push({
      cache: 'cxrtune',
      id: join(places.cxrtune, d),
      file,
      bytes: statSync(file).size,
      arch,
      ...(arch ? {} : { problem: 'model.json unreadable' }),
    });
  }
  return { places, weights: out };
}

export function formatWeightsTable(r: Awaited<ReturnType<typeof listLocalWeights>>): string {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const lines = [
    `torch hub:    ${r.places['torch-hub']}`,
    `Hugging Face: ${r.places['hf-hub']}`,
    `cxrtune:      ${r.places.cxrtune}`,
    '',
  ];
  if (!r.weights.length)
    return lines
      .concat('no weights found in these caches (cxrtune weights pull ORG/NAME, or weights import FILE)')
      .join('\n');
  const rows = r.weights.map((w) => [
    w.cache,
    w.id,
    w.arch ?? '?',
    `${mb(w.bytes)} MB`,
    w.problem ? `unusable: ${w.problem.split(/[;—]/)[0]!.trim()}` : 'ok',
  ]);
  const head = ['cache', 'id (for --pretrained)', 'arch', 'size', 'status'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ');
  return lines.concat(fmt(head), ...rows.map(fmt)).join('\n');
}
