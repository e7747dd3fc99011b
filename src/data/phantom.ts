// Synthetic chest radiographs: thorax, two lungs, ribs, clavicles, heart, mediastinum,
// spine and diaphragm with anatomy, exposure and noise varied per image; `covid` phantoms
// add ground-glass opacities (GGO) in known zones. Lesion and lung masks are exact, so tests
// and the Grad-CAM check can ask "is the evidence inside the lesion / the lung field?".
// Deterministic by (seed, index). Orientation is radiological (patient's right on the
// image's left), so the heart bulges to the image's right.
import { OptionError } from '../util/optionError.js';
import { join } from 'node:path';
import { Rng } from '../util/rng.js';
import { encodePng } from './image.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { writeManifest, type ManifestRow } from './manifest.js';
import { assignSplits, parseSplit, type SplitSpec } from './split.js';
import { contactSheet } from './contactSheet.js';

type PhantomLabel = 'normal' | 'covid';
const LESION_ZONES = ['right-middle', 'right-lower', 'left-upper'] as const;
type LesionZone = (typeof LESION_ZONES)[number];

interface Lesion {
  zone: LesionZone;
  /** Centre in pixels. */
  x: number;
  y: number;
  /** Gaussian σ in pixels. */
  sigma: number;
  /** Peak added opacity (0–1 scale). */
  intensity: number;
}

interface Phantom {
  index: number;
  label: PhantomLabel;
  size: number;
  /** size × size 8-bit grayscale radiograph. */
  pixels: Uint8Array;
  /** 1 inside the lung fields (lungs minus heart and mediastinum), else 0. */
  lungMask: Uint8Array;
  /** 1 where a lesion adds ≥ 10 % of its peak opacity (≈ 90 % of its mass; always inside lungMask), else 0. */
  lesionMask: Uint8Array;
  /** The opacity the lesions added, per pixel (0 for normals). */
  lesionMap: Float32Array;
  lesions: Lesion[];
}

interface PhantomOptions {
  size?: number;
  label?: PhantomLabel;
  /** Multiplies each lesion's peak opacity (default 1 = DEFAULT_LESION_INTENSITY's range). */
  lesionIntensity?: number;
  /**
   * Planted shortcut for the audit's tests: draw a bright corner marker (see drawMarker) on
   * covid phantoms only. It uses no random draws, so a phantom is otherwise identical with
   * and without it.
   */
  marker?: boolean;
}

/**
 * The planted shortcut: a bright "L"-shaped tag, like a burnt-in side marker, in the top-left corner (outside the
 * body).
 */
export const MARKER_BOX = { x: 0.02, y: 0.02, side: 0.08 } as const;

/** Draws the marker into an S×S 8-bit image (in place): a filled square with an L cut out of it. */
function drawMarker(pixels: Uint8Array, S: number): void {
  const x0 = Math.round(MARKER_BOX.x * S);
  const y0 = Math.round(MARKER_BOX.y * S);
  const side = Math.max(3, Math.round(MARKER_BOX.side * S));
  const t = Math.max(1, Math.round(side / 4));
  for (let y = y0; y < y0 + side; y++) {
    for (let x = x0; x < x0 + side; x++) {
      // An "L" (dark) in a bright square: letter-like, so it is not a mere brightness cue.
      const inL =
        (x >= x0 + t && x < x0 + 2 * t && y >= y0 + t && y < y0 + side - t) ||
        (y >= y0 + side - 2 * t && y < y0 + side - t && x >= x0 + t && x < x0 + side - t);
      pixels[y * S + x] = inL ? 40 : 240;
    }
  }
}

/**
 * Peak added opacity of one lesion, drawn uniformly from this range (0–1 scale). Raised from
 * 0.14–0.26: fainter lesions were hard to see and a short CPU run could not learn them; at
 * this level they are still hazy (the ribs and markings show through), as ground glass is.
 */
const DEFAULT_LESION_INTENSITY: readonly [number, number] = [0.22, 0.36];

interface Lung {
  cx: number;
  cy: number;
  a: number;
  b: number;
  /** Diaphragm dome height (fraction of b) and apex sharpness. */
  top: number;
  bottom: number;
}

/** One phantom; the label defaults to normal for even indices, covid for odd ones. */
export function generatePhantom(seed: number, index: number, opts: PhantomOptions = {}): Phantom {
  const S = opts.size ?? 128;
  const label: PhantomLabel = opts.label ?? (index % 2 === 0 ? 'normal' : 'covid');
  const gain = opts.lesionIntensity ?? 1;
  if (!(gain >= 0 && gain <= 4)) throw new Error(`lesion intensity must be in [0, 4] (got ${gain})`);
  // One stream for the whole phantom: the helpers below draw from it in a fixed order
  // (anatomy, lesions, lesion texture, noise), so a phantom is the same byte for byte.
  const rng = Rng.derive(seed, 'phantom', index);
  const an = drawAnatomy(rng);
  const geo = anatomyGeometry(an);
  const lesions = label === 'covid' ? placeLesions(rng, an, geo, S, gain) : [];
  const { field, lungMask } = rasterAnatomy(an, geo, S);
  const n = S * S;
  const lesionMask = new Uint8Array(n);
  const lesionMap = new Float32Array(n);
  if (lesions.length > 0) addLesions(rng, lesions, { field, lungMask, lesionMask, lesionMap }, S);
  const pixels = exposeAndBlur(rng, field, an, S);
  if (opts.marker && label === 'covid') drawMarker(pixels, S);
  return { index, label, size: S, pixels, lungMask, lesionMask, lesionMap, lesions };
}

type Anatomy = ReturnType<typeof drawAnatomy>;
type Geometry = ReturnType<typeof anatomyGeometry>;

/** The anatomy, exposure and noise level of one phantom (normalised 0..1 coordinates, x to the right, y down). */
function drawAnatomy(rng: Rng) {
  const tilt = rng.uniform(-0.04, 0.04);
  const midX = 0.5 + rng.uniform(-0.02, 0.02);
  const bodyA = rng.uniform(0.42, 0.48);
  const bodyB = rng.uniform(0.6, 0.68);
  const bodyCy = rng.uniform(0.6, 0.66);
  const lungH = rng.uniform(0.29, 0.34);
  const lungW = rng.uniform(0.15, 0.18);
  const lungCy = rng.uniform(0.44, 0.49);
  const sep = rng.uniform(0.19, 0.215);
  const dome = rng.uniform(0.06, 0.09);
  const lungs: [Lung, Lung] = [
    // patient's right lung = image left; its diaphragm sits a little higher (liver)
    {
      cx: midX - sep,
      cy: lungCy,
      a: lungW * rng.uniform(1.0, 1.08),
      b: lungH,
      top: lungCy - lungH,
      bottom: lungCy + lungH * rng.uniform(0.8, 0.88),
    },
    {
      cx: midX + sep,
      cy: lungCy + 0.01,
      a: lungW * rng.uniform(0.95, 1.03),
      b: lungH,
      top: lungCy - lungH + 0.01,
      bottom: lungCy + lungH * rng.uniform(0.88, 0.96),
    },
  ];
  const heart = {
    cx: midX + rng.uniform(0.07, 0.1),
    cy: lungCy + lungH * rng.uniform(0.52, 0.64),
    a: rng.uniform(0.17, 0.21),
    b: rng.uniform(0.13, 0.16),
  };
  const mediaW = rng.uniform(0.05, 0.065);
  const ribGap = rng.uniform(0.058, 0.068);
  const ribTop = lungCy - lungH + rng.uniform(0.0, 0.02);
  const ribT = rng.uniform(0.01, 0.014);
  const ribCurve = rng.uniform(2.6, 3.6);
  const clavY = lungCy - lungH + rng.uniform(0.0, 0.03);
  const exposure = rng.uniform(0.88, 1.1);
  const gamma = rng.uniform(0.85, 1.2);
  const noiseSd = rng.uniform(0.012, 0.025);
  // Lung markings: a few random low-frequency waves (vessels/texture stand-in).
  const waves = Array.from({ length: 6 }, () => ({
    fx: rng.uniform(6, 22),
    fy: rng.uniform(6, 22),
    ph: rng.uniform(0, 6.283),
    amp: rng.uniform(0.006, 0.016),
  }));
  return {
    tilt,
    midX,
    bodyA,
    bodyB,
    bodyCy,
    lungCy,
    dome,
    lungs,
    heart,
    mediaW,
    ribGap,
    ribTop,
    ribT,
    ribCurve,
    clavY,
    exposure,
    gamma,
    noiseSd,
    waves,
  };
}

/** Point tests of the anatomy: inside a lung (above its diaphragm dome), the heart, the mediastinum, the lung field. */
function anatomyGeometry(an: Pick<Anatomy, 'dome' | 'lungs' | 'heart' | 'midX' | 'mediaW'>) {
  const { dome, lungs, heart, midX, mediaW } = an;
  const domeY = (x: number, l: Lung) => l.bottom - dome * Math.max(0, 1 - ((x - l.cx) / l.a) ** 2);
  const lungR2 = (x: number, y: number, l: Lung) =>
    Math.abs((x - l.cx) / l.a) ** 2.4 + Math.abs((y - l.cy) / l.b) ** 2.4;
  const inLung = (x: number, y: number, l: Lung) => y > l.top && y < domeY(x, l) && lungR2(x, y, l) < 1;
  const inHeart = (x: number, y: number) => ((x - heart.cx) / heart.a) ** 2 + ((y - heart.cy) / heart.b) ** 2 < 1;
  const inMedia = (x: number, y: number) => Math.abs(x - midX) < mediaW && y < heart.cy;
  const inField = (x: number, y: number) =>
    (inLung(x, y, lungs[0]) || inLung(x, y, lungs[1])) && !inHeart(x, y) && !inMedia(x, y);
  return { domeY, lungR2, inLung, inHeart, inMedia, inField };
}

/** 1–3 ground-glass lesions, each in a zone and rejection-sampled well inside the lung field. */
function placeLesions(rng: Rng, an: Anatomy, geo: Geometry, S: number, gain: number): Lesion[] {
  const lesions: Lesion[] = [];
  const count = 1 + rng.int(3);
  for (let k = 0; k < count; k++) {
    const zone = rng.pick(LESION_ZONES);
    const l = zone.startsWith('right') ? an.lungs[0] : an.lungs[1];
    const span = l.bottom - l.top;
    const [y0, y1] = zone.endsWith('upper') ? [0.12, 0.36] : zone.endsWith('middle') ? [0.4, 0.6] : [0.64, 0.86];
    for (let tries = 0; tries < 200; tries++) {
      const x = l.cx + rng.uniform(-0.75, 0.75) * l.a;
      const y = l.top + rng.uniform(y0, y1) * span;
      if (!geo.inField(x, y)) continue;
      lesions.push({
        zone,
        x: x * S,
        y: y * S,
        sigma: rng.uniform(0.035, 0.065) * S,
        intensity: gain * rng.uniform(DEFAULT_LESION_INTENSITY[0], DEFAULT_LESION_INTENSITY[1]),
      });
      break;
    }
  }
  return lesions;
}

const band = (d: number, t: number) => Math.exp(-(d * d) / (t * t));

/** The noiseless opacity field of the anatomy (no random draws) and the lung-field mask. */
function rasterAnatomy(an: Anatomy, geo: Geometry, S: number): { field: Float32Array; lungMask: Uint8Array } {
  const { midX, bodyA, bodyB, bodyCy, lungCy, lungs, heart, mediaW, ribGap, ribTop, ribT, ribCurve, clavY, waves } = an;
  const { domeY, lungR2, inLung, inHeart, inMedia } = geo;
  const field = new Float32Array(S * S);
  const lungMask = new Uint8Array(S * S);
  const cosT = Math.cos(an.tilt);
  const sinT = Math.sin(an.tilt);
  for (let py = 0; py < S; py++) {
    for (let px = 0; px < S; px++) {
      // Patient tilt: rotate sampling coordinates about the centre.
      const ux = (px + 0.5) / S - 0.5;
      const uy = (py + 0.5) / S - 0.5;
      const x = 0.5 + cosT * ux - sinT * uy;
      const y = 0.5 + sinT * ux + cosT * uy;
      const i = py * S + px;
      // Body: soft tissue (boxy superellipse), thicker towards the centre; shoulders and
      // neck above; abdomen (bright) below the diaphragm.
      const bx = (x - midX) / bodyA;
      const by = (y - bodyCy) / bodyB;
      const rb = bx ** 4 + by ** 4;
      let v = 0.03;
      if (rb < 1) v = 0.4 + 0.12 * (1 - bx * bx);
      else if (y < bodyCy && Math.abs(x - midX) < 0.09) v = 0.45;
      else if (y < bodyCy && Math.abs(bx) < 1.05) v = Math.max(v, 0.3 * (1 - Math.abs(by) ** 6));
      const lungR = inLung(x, y, lungs[0]);
      const lungL = inLung(x, y, lungs[1]);
      const heartIn = inHeart(x, y);
      if (lungR || lungL) {
        const l = lungR ? lungs[0] : lungs[1];
        const edge = Math.min(1, (1 - lungR2(x, y, l)) * 3, (domeY(x, l) - y) * 25);
        // Air: darkest mid-lung, with vessel-like markings fanning out from the hilum.
        const hil = band(Math.hypot(x - (l.cx + (lungR ? 0.55 : -0.55) * l.a), y - l.cy - 0.03), 0.1);
        let mark = 0;
        for (const w of waves) mark += w.amp * Math.sin(w.fx * x + w.ph) * Math.sin(w.fy * y);
        v -= (0.3 + (0.04 * (y - l.top)) / (l.bottom - l.top)) * edge - 0.1 * hil - mark * (0.5 + hil);
        if (!heartIn && !inMedia(x, y)) lungMask[i] = 1;
      } else if (rb < 1) {
        // Below the domes: liver/abdomen.
        for (const l of lungs)
          if (Math.abs(x - l.cx) < l.a * 1.2 && y > domeY(x, l))
            v = Math.max(v, 0.62 + 0.06 * Math.min(1, (y - domeY(x, l)) * 10));
      }
      // Mediastinum, spine and heart.
      if (Math.abs(x - midX) < mediaW && rb < 1)
        v = Math.max(v, 0.64 + 0.06 * band(x - midX, mediaW) - 0.12 * band(x - midX, 0.012) * (y < lungCy ? 1 : 0));
      if (heartIn)
        v = Math.max(v, 0.66 + 0.08 * (1 - ((x - heart.cx) / heart.a) ** 2 - ((y - heart.cy) / heart.b) ** 2));
      const spine = band(x - midX, 0.022) * (rb < 1 ? 1 : 0);
      v += 0.05 * spine * (0.75 + 0.25 * Math.sin((y * 2 * Math.PI) / (ribGap * 1.02)));
      const u = Math.abs(x - midX);
      if (rb < 1 && u > 0.02)
        v += ((lungR || lungL) && !heartIn ? 0.1 : 0.03) * Math.min(1.4, ribs(y, u, ribTop, ribGap, ribCurve, ribT));
      // Clavicles: slanted bands across the apices.
      const clav = band(y - (clavY + 0.12 * (u - 0.05)), 0.014) * (u > 0.04 && u < 0.3 ? 1 : 0);
      v += 0.12 * clav;
      field[i] = v;
    }
  }
  return { field, lungMask };
}

/**
 * Ribs at height y, lateral distance u: posterior ribs rise out of the spine and fall laterally; anterior ribs fainter.
 */
function ribs(y: number, u: number, ribTop: number, ribGap: number, ribCurve: number, ribT: number): number {
  let rib = 0;
  for (let r = 0; r < 10; r++) {
    const y0 = ribTop + r * ribGap;
    const yp = y0 + ribCurve * (u - 0.1) * (u - 0.1) - 0.02;
    rib += band(y - yp, ribT) + 0.3 * band(y - (y0 + 0.05 + 0.6 * (0.45 - u) * (0.45 - u)), ribT * 1.4);
  }
  return rib;
}

/** Lesions are hazy (ground glass): Gaussian opacity with a mottled texture, confined to the lung field. */
function addLesions(
  rng: Rng,
  lesions: Lesion[],
  m: { field: Float32Array; lungMask: Uint8Array; lesionMask: Uint8Array; lesionMap: Float32Array },
  S: number,
): void {
  const tex = Array.from({ length: 3 }, () => ({
    fx: rng.uniform(0.3, 0.8),
    fy: rng.uniform(0.3, 0.8),
    ph: rng.uniform(0, 6.283),
  }));
  for (let i = 0; i < S * S; i++) {
    if (!m.lungMask[i]) continue;
    const px = i % S;
    const py = (i - px) / S;
    let add = 0;
    let inside = false;
    for (const L of lesions) {
      const g = Math.exp(-((px - L.x) ** 2 + (py - L.y) ** 2) / (2 * L.sigma * L.sigma));
      if (g >= 0.1) inside = true;
      add += L.intensity * g;
    }
    if (add < 1e-4) continue;
    let t = 0;
    for (const w of tex) t += Math.sin(w.fx * px + w.ph) * Math.sin(w.fy * py);
    const a = add * (0.8 + 0.067 * t);
    m.lesionMap[i] = a;
    m.field[i] += a;
    if (inside) m.lesionMask[i] = 1;
  }
}

/** Exposure, gamma, quantum noise (in place on the field), then slight detector blur (box 3×3) to 8 bits. */
function exposeAndBlur(
  rng: Rng,
  field: Float32Array,
  an: Pick<Anatomy, 'exposure' | 'gamma' | 'noiseSd'>,
  S: number,
): Uint8Array {
  for (let i = 0; i < S * S; i++) {
    const v = Math.max(0, Math.min(1, field[i] * an.exposure));
    field[i] = v ** an.gamma + an.noiseSd * rng.normal();
  }
  const pixels = new Uint8Array(S * S);
  for (let py = 0; py < S; py++) {
    for (let px = 0; px < S; px++) {
      let s = 0;
      let c = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = py + dy;
        if (yy < 0 || yy >= S) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = px + dx;
          if (xx < 0 || xx >= S) continue;
          s += field[yy * S + xx] * (dx === 0 && dy === 0 ? 4 : dx === 0 || dy === 0 ? 2 : 1);
          c += dx === 0 && dy === 0 ? 4 : dx === 0 || dy === 0 ? 2 : 1;
        }
      }
      pixels[py * S + px] = Math.max(0, Math.min(255, Math.round((s / c) * 255)));
    }
  }
  return pixels;
}

interface GeneratePhantomsOptions {
  n: number;
  size?: number;
  seed?: number;
  /** See PhantomOptions.lesionIntensity. */
  lesionIntensity?: number;
  /** See PhantomOptions.marker (the planted shortcut). */
  marker?: boolean;
}

/** n phantoms, exactly balanced (⌊n/2⌋ normal, the rest covid) in a seeded order. */
export function generatePhantoms(opts: GeneratePhantomsOptions): Phantom[] {
  const seed = opts.seed ?? 0;
  return phantomLabels(opts.n, seed).map((label, i) =>
    generatePhantom(seed, i, { size: opts.size, label, lesionIntensity: opts.lesionIntensity, marker: opts.marker }),
  );
}

function phantomLabels(n: number, seed: number): PhantomLabel[] {
  const labels: PhantomLabel[] = Array.from({ length: n }, (_, i) => (i < Math.floor(n / 2) ? 'normal' : 'covid'));
  return Rng.derive(seed, 'phantom-labels').shuffle(labels);
}

interface WritePhantomsOptions extends GeneratePhantomsOptions {
  out: string;
  split?: SplitSpec | string;
  /** Write a contact sheet of the first images (default 64; 0 = none). */
  sheetSize?: number;
  onProgress?: (done: number, total: number) => void;
}

interface WritePhantomsResult {
  manifestFile: string;
  count: number;
  labels: Record<string, number>;
  sheet?: string;
}

const maskPng = (m: Uint8Array, S: number) => encodePng({ pixels: m.map((v) => (v ? 255 : 0)), width: S, height: S });

/** Write images/, masks/ (lesion + lung), manifest.csv (with mask paths) and a contact sheet. */
export async function writePhantoms(opts: WritePhantomsOptions): Promise<WritePhantomsResult> {
  const seed = opts.seed ?? 0;
  const S = opts.size ?? 128;
  if (!Number.isInteger(opts.n) || opts.n < 2) throw new OptionError(`n must be an integer ≥ 2 (got ${opts.n})`, 'n');
  if (!Number.isInteger(S) || S < 32 || S > 1024)
    throw new OptionError(`size must be an integer in [32, 1024] (got ${S})`, 'size');
  const labels = phantomLabels(opts.n, seed);
  const rows: ManifestRow[] = [];
  const thumbs: Phantom[] = [];
  const sheetSize = opts.sheetSize ?? 64;
  let inflight: Promise<void>[] = [];
  for (let i = 0; i < opts.n; i++) {
    const p = generatePhantom(seed, i, {
      size: S,
      label: labels[i],
      lesionIntensity: opts.lesionIntensity,
      marker: opts.marker,
    });
    const id = `phantom_${String(i).padStart(5, '0')}`;
    const files = {
      image: `images/${p.label}/${id}.png`,
      mask: `masks/${id}_lesion.png`,
      lung: `masks/${id}_lung.png`,
    };
    // Encode/write the previous phantoms while the CPU draws the next one.
    inflight.push(
      (async () => {
        await writeFileAtomic(join(opts.out, files.image), await encodePng({ pixels: p.pixels, width: S, height: S }));
        await writeFileAtomic(join(opts.out, files.mask), await maskPng(p.lesionMask, S));
        await writeFileAtomic(join(opts.out, files.lung), await maskPng(p.lungMask, S));
      })(),
    );
    if (inflight.length >= 8) {
      await Promise.all(inflight);
      inflight = [];
    }
    if (thumbs.length < sheetSize) thumbs.push(p);
    rows.push({
      path: files.image,
      label: p.label,
      patientId: `phantom:${seed}-${i}`,
      source: 'phantom',
      view: 'PA',
      split: '',
      extra: {
        mask: files.mask,
        lung_mask: files.lung,
        lesions: String(p.lesions.length),
        zones: [...new Set(p.lesions.map((l) => l.zone))].join('|'),
        lesion_pixels: String(p.lesionMask.reduce((a, b) => a + b, 0)),
        ...(opts.marker ? { marker: p.label === 'covid' ? '1' : '0' } : {}),
      },
    });
    opts.onProgress?.(i + 1, opts.n);
  }
  await Promise.all(inflight);
  const split =
    typeof opts.split === 'string' || opts.split === undefined ? parseSplit(opts.split ?? '0.7,0.3') : opts.split;
  const splits = assignSplits(rows, split, seed);
  rows.forEach((r, i) => {
    r.split = splits[i];
  });
  const manifestFile = join(opts.out, 'manifest.csv');
  await writeManifest(manifestFile, rows);
  let sheet: string | undefined;
  if (sheetSize > 0) {
    sheet = join(opts.out, 'contact-sheet.png');
    await writeFileAtomic(
      sheet,
      await contactSheet(
        thumbs.map((p) => ({ pixels: p.pixels, width: S, height: S })),
        { cols: 8 },
      ),
    );
  }
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.label] = (counts[r.label] ?? 0) + 1;
  return { manifestFile, count: rows.length, labels: counts, sheet };
}
