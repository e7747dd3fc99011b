// The inputs `cxrtune ood check` measures the refusal on. Real files where there are real files:
// frontal radiographs no training used (figure1; NIH ChestX-ray8, Montgomery, Shenzhen and Kermany
// images outside the model's manifests; cxnet's publication figures), the lateral views of
// covid-chestxray (metadata view L), the same held-out frontal films inverted (a negative, as some
// viewers export), and whatever non-medical images the given folders hold (--photos: icons,
// screenshots, diagrams, photographs). Synthetic where nothing real exists, and named so: blank
// images, noise, rendered scenes.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { readManifest } from '../data/manifest.js';
import { readMetadataCsv } from '../data/sources/source.js';
import { createRng, hashSeed } from '../util/rng.js';
import type { OodInputSet } from '../app/ood/checkOod.js';

export interface OodSetOptions {
  /** The data folder (covid-chestxray/, figure1/, nih/, lungs/, kermany/, cxnet/: each optional). */
  data: string;
  /** Manifests whose images the model saw (training or validation): never counted as held out. */
  seen: string[];
  /** Folders searched (recursively) for non-medical PNG/JPEG files. */
  photos?: string[];
  /** Held-out images at most per sampled frontal source (a seeded sample; default 300). */
  maxPerSource?: number;
  seed?: number;
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;
const fileImages = (files: string[]) =>
  files.map((f) => ({ name: f, bytes: async () => new Uint8Array(await readFile(f)) }));

function listImages(dir: string, minBytes = 0): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && IMAGE_FILE.test(e.name) && statSync(p).size >= minBytes) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

const png = (b: Sharp) =>
  b
    .png()
    .toBuffer()
    .then((x) => new Uint8Array(x));

function blankImages(): OodInputSet['images'] {
  return [0, 16, 64, 100, 128, 160, 200, 255].flatMap((v) =>
    [256, 1024].map((s) => ({
      name: `blank-${v}-${s}`,
      bytes: () => png(sharp({ create: { width: s, height: s, channels: 3, background: { r: v, g: v, b: v } } })),
    })),
  );
}

function noiseImages(seed: number): OodInputSet['images'] {
  return Array.from({ length: 24 }, (_, i) => ({
    name: `noise-${['uniform', 'gaussian', 'smooth'][i % 3]}-${i}`,
    bytes: async () => {
      const rng = createRng(hashSeed(seed, 'noise', i));
      const S = 512;
      const px = new Uint8Array(S * S);
      const kind = i % 3;
      for (let p = 0; p < px.length; p++)
        px[p] =
          kind === 1
            ? Math.max(0, Math.min(255, Math.round(128 + 40 * rng.normal())))
            : Math.floor(rng.uniform(0, 256));
      const img = sharp(px, { raw: { width: S, height: S, channels: 1 } });
      return png(kind === 2 ? img.blur(6).normalise() : img);
    },
  }));
}

/** Rendered scenes (SVG): sky, ground, sun, boxes and text. Drawn, not photographed. */
function sceneImages(seed: number): OodInputSet['images'] {
  return Array.from({ length: 24 }, (_, i) => ({
    name: `scene-${i}`,
    bytes: async () => {
      const r = createRng(hashSeed(seed, 'scene', i));
      const c = () => `rgb(${r.int(256)},${r.int(256)},${r.int(256)})`;
      const shapes = Array.from({ length: 3 + r.int(6) }, () =>
        r.bool()
          ? `<circle cx="${r.int(640)}" cy="${r.int(480)}" r="${20 + r.int(120)}" fill="${c()}"/>`
          : `<rect x="${r.int(600)}" y="${r.int(440)}" width="${30 + r.int(250)}" height="${30 + r.int(250)}" ` +
            `fill="${c()}"/>`,
      ).join('');
      const svg =
        `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><defs><linearGradient id="s" x1="0" ` +
        `y1="0" x2="0" y2="1"><stop offset="0" stop-color="${c()}"/><stop offset="1" stop-color="${c()}"/>` +
        `</linearGradient></defs><rect width="640" height="480" fill="url(#s)"/><rect y="${240 + r.int(200)}" ` +
        `width="640" height="480" fill="${c()}"/>${shapes}<text x="${r.int(300)}" y="${40 + r.int(400)}" ` +
        `font-size="${20 + r.int(50)}" fill="${c()}">scene ${i}</text></svg>`;
      return png(sharp(Buffer.from(svg)).jpeg({ quality: 85 }));
    },
  }));
}

const inverted = (file: string) => async () =>
  png(
    sharp(await readFile(file))
      .greyscale()
      .negate({ alpha: false }),
  );

export function oodSets(o: OodSetOptions): OodInputSet[] {
  const data = resolve(o.data);
  const seed = o.seed ?? 0;
  const seen = new Set(
    o.seen.flatMap((file) => {
      const m = readManifest(file);
      return m.rows.map((r) => resolve(m.dir, r.path));
    }),
  );
  const sets: OodInputSet[] = [];
  const cap = o.maxPerSource ?? 300;
  // One frontal source's files outside the model's manifests, a seeded sample of at most `cap`.
  const frontal = (kind: string, source: string, key: string, dirs: string[]) => {
    const held = dirs.filter((d) => existsSync(d)).flatMap((d) => listImages(d).filter((f) => !seen.has(f)));
    const files = createRng(hashSeed(seed, key)).sample(held, Math.min(held.length, cap));
    if (files.length)
      sets.push({
        kind,
        frontal: true,
        synthetic: false,
        source: `${source}, ${files.length} of the ${held.length} images outside the model's manifests`,
        images: fileImages(files),
      });
    return files;
  };
  const figFiles = frontal('frontal: figure1', 'Figure 1 COVID-19 chest X-ray dataset', 'figure1', [
    join(data, 'figure1', 'images'),
  ]);
  const nih = frontal('frontal: NIH held out', 'NIH ChestX-ray8', 'nih', [
    join(data, 'nih', 'No_findings'),
    join(data, 'nih', 'Pneumonia'),
  ]);
  // Two TB screening hospitals (US, China) and a children's hospital: other scanners and patients.
  frontal('frontal: Montgomery held out', 'Montgomery County TB set', 'montgomery', [
    join(data, 'lungs', 'montgomery', 'images'),
  ]);
  frontal('frontal: Shenzhen held out', 'Shenzhen TB set', 'shenzhen', [join(data, 'lungs', 'shenzhen', 'images')]);
  frontal('frontal: Kermany paediatric', 'Kermany paediatric radiographs', 'kermany', [
    join(data, 'kermany', 'NORMAL'),
    join(data, 'kermany', 'PNEUMONIA'),
  ]);
  // Publication figures of COVID-19 films: arrows, letters and crop borders, but frontal films.
  frontal('frontal: cxnet figures', 'COVID-CXNet figures', 'cxnet', [join(data, 'cxnet', 'images')]);
  const cc = join(data, 'covid-chestxray');
  if (existsSync(join(cc, 'metadata.csv'))) {
    const { root, table } = readMetadataCsv(cc, 'covid-chestxray', ['view', 'filename'], 'latin1');
    const lateral = table.records
      .filter((r) => r.values.view === 'L')
      .map((r) => join(root, r.values.folder || 'images', r.values.filename!))
      .filter((f) => existsSync(f));
    sets.push({
      kind: 'lateral views',
      frontal: false,
      synthetic: false,
      source: 'covid-chestxray, metadata view L',
      images: fileImages(lateral),
    });
  }
  const toInvert = [...figFiles, ...nih.slice(0, 100)];
  if (toInvert.length)
    sets.push({
      kind: 'inverted radiographs',
      frontal: false,
      synthetic: false,
      source: 'the held-out frontal films above (figure1, 100 NIH), grey levels inverted',
      images: toInvert.map((f) => ({ name: `inverted ${f}`, bytes: inverted(f) })),
    });
  // The same file installed twice (two toolchains' docs) counts once.
  const hashes = new Set<string>();
  const photos = (o.photos ?? [])
    .filter((d) => existsSync(d))
    .flatMap((d) => listImages(d, 8 * 1024))
    .filter((f) => {
      const h = createHash('sha256').update(readFileSync(f)).digest('hex');
      if (hashes.has(h)) return false;
      hashes.add(h);
      return true;
    });
  if (photos.length)
    sets.push({
      kind: 'non-medical image files',
      frontal: false,
      synthetic: false,
      source: `PNG/JPEG files of 8 KB or more under ${(o.photos ?? []).join(', ')}`,
      images: fileImages(photos),
    });
  sets.push(
    { kind: 'blank images', frontal: false, synthetic: true, source: '8 grey levels, 2 sizes', images: blankImages() },
    {
      kind: 'noise images',
      frontal: false,
      synthetic: true,
      source: 'uniform, Gaussian and smoothed noise',
      images: noiseImages(seed),
    },
    {
      kind: 'rendered scenes',
      frontal: false,
      synthetic: true,
      source: 'SVG scenes (sky, ground, shapes, text) drawn by sharp',
      images: sceneImages(seed),
    },
  );
  return sets;
}
