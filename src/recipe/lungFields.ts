// The shape of a lung segmenter's mask, as a frontal chest radiograph has it: two lung fields side
// by side. Pure geometry on a 0/1 mask; the refusal (recipe/frontalCheck.ts) puts limits on it.
//
// - area: lung pixels over image pixels (the whole image, stretched to the segmenter's input);
// - the two largest 4-connected components are the two fields; `balance` is the smaller one's
//   share of the two (a frontal film: ~0.4–0.5; one blob, as a lateral view gives: ~0). Where the
//   segmenter joins the two fields by a thin bridge (tightly cropped ICU films, rotated children's
//   films), the mask is eroded a pixel at a time, up to 3 % of its width, until two fields of
//   comparable size come apart; the fields, and all but `area`, are then read on the eroded mask.
//   That reading is weaker evidence, so it also needs the fields clearly darker than the
//   mediastinum (SEPARATED_CONTRAST, with the image's pixels): otherwise smooth noise and some
//   inverted films come apart too. A lateral view's single blob does not (docs/refusal.md);
// - their centroids, as fractions of the width and height: side by side means a horizontal gap
//   between them (`gap`) and little vertical offset (`offset`);
// - with the image's pixels, `contrast`: how much darker the two fields are than the mediastinum
//   between them (spine, heart, great vessels), in grey levels / 255. Air is dark on a radiograph,
//   bone and soft tissue bright; an inverted film (a negative) has a negative contrast.

export interface LungFieldShape {
  /** Lung share of the image, in [0, 1]. */
  area: number;
  /** 4-connected lung components with at least 0.5 % of the image each. */
  fields: number;
  /** The smaller of the two largest fields' share of both, in [0, 0.5] (0 with fewer than two). */
  balance: number;
  /** |x₁ − x₂| of the two largest fields' centroids, as a share of the width (0 with fewer than two). */
  gap: number;
  /** |y₁ − y₂| of the two largest fields' centroids, as a share of the height (1 with fewer than two). */
  offset: number;
  /** (mean grey between the two fields, row by row − mean grey of the fields) / 255; 0 without pixels or fields. */
  contrast: number;
}

/** A component smaller than this share of the image is noise, not a field. */
const MIN_FIELD_SHARE = 0.005;
/** Two fields whose smaller holds at least this share of both are a pair (the refusal's limit too). */
export const TWO_FIELDS_BALANCE = 0.2;
/** The widest bridge between two fields that erosion may cut, as a share of the mask's width (each side). */
const MAX_ERODE_SHARE = 0.03;
/**
 * The contrast fields taken apart by erosion need (grey levels / 255): 0.5 % of the demo's training
 * films with two fields fall below 0.056 (595 films), smooth noise and inverted films that erosion
 * splits sit at 0.005–0.036.
 */
const SEPARATED_CONTRAST = 0.05;

export function lungFieldShape(
  mask: ArrayLike<number>,
  width: number,
  height: number,
  pixels?: ArrayLike<number>,
): LungFieldShape {
  const N = width * height;
  if (mask.length !== N) throw new Error(`lung mask holds ${mask.length} pixels, not ${width}×${height}`);
  if (pixels && pixels.length !== N) throw new Error(`image holds ${pixels.length} pixels, not ${width}×${height}`);
  let m: Uint8Array = Uint8Array.from(mask, (v) => (v ? 1 : 0));
  const whole = components(m, width, height);
  const area = whole.area / N;
  const shape = read(whole, area, width, height, pixels);
  if (shape.balance >= TWO_FIELDS_BALANCE) return shape;
  for (let r = 1; r <= Math.round(MAX_ERODE_SHARE * width); r++) {
    m = erode(m, width, height);
    const c = components(m, width, height);
    if (balanceOf(c.comps) < TWO_FIELDS_BALANCE) continue;
    const apart = read(c, area, width, height, pixels);
    return apart.contrast >= SEPARATED_CONTRAST ? apart : shape;
  }
  return shape;
}

/** The shape of one set of components (all but `area`, which is the whole mask's). */
function read(
  { label, comps }: ReturnType<typeof components>,
  area: number,
  width: number,
  height: number,
  pixels?: ArrayLike<number>,
): LungFieldShape {
  const fields = comps.filter((c) => c.size >= MIN_FIELD_SHARE * width * height).length;
  const [a, b] = comps;
  if (!a || !b) return { area, fields, balance: 0, gap: 0, offset: 1, contrast: 0 };
  const cx = (c: Component) => (c.sx / c.size + 0.5) / width;
  const cy = (c: Component) => (c.sy / c.size + 0.5) / height;
  return {
    area,
    fields,
    balance: balanceOf(comps),
    gap: Math.abs(cx(a) - cx(b)),
    offset: Math.abs(cy(a) - cy(b)),
    contrast: pixels
      ? mediastinumContrast(
          label,
          a.id,
          b.id,
          (id) => (id === a.id ? cx(a) < cx(b) : cx(b) < cx(a)),
          width,
          height,
          pixels,
        )
      : 0,
  };
}

interface Component {
  id: number;
  size: number;
  sx: number;
  sy: number;
}

/** The smaller of the two largest components' share of both (0 with fewer than two). */
function balanceOf(comps: Component[]): number {
  const [a, b] = comps;
  return a && b ? b.size / (a.size + b.size) : 0;
}

/** 4-connected components of a 0/1 mask, largest first, with each pixel's component (−1: none). */
function components(mask: Uint8Array, width: number, height: number) {
  const N = width * height;
  const label = new Int32Array(N).fill(-1);
  const comps: Component[] = [];
  const stack = new Int32Array(N);
  let area = 0;
  for (let start = 0; start < N; start++) {
    if (!mask[start] || label[start]! >= 0) continue;
    const c = { id: comps.length, size: 0, sx: 0, sy: 0 };
    let top = 0;
    stack[top++] = start;
    label[start] = c.id;
    while (top > 0) {
      const p = stack[--top]!;
      const x = p % width;
      const y = (p - x) / width;
      c.size++;
      c.sx += x;
      c.sy += y;
      const push = (q: number) => {
        if (mask[q] && label[q]! < 0) {
          label[q] = c.id;
          stack[top++] = q;
        }
      };
      if (x > 0) push(p - 1);
      if (x < width - 1) push(p + 1);
      if (y > 0) push(p - width);
      if (y < height - 1) push(p + width);
    }
    area += c.size;
    comps.push(c);
  }
  comps.sort((a, b) => b.size - a.size);
  return { label, comps, area };
}

/** One step of erosion by the 4-neighbourhood (the image's edge counts as set). */
function erode(m: Uint8Array, width: number, height: number): Uint8Array {
  const o = new Uint8Array(m.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      o[p] =
        m[p] &&
        (x === 0 || m[p - 1]) &&
        (x === width - 1 || m[p + 1]) &&
        (y === 0 || m[p - width]) &&
        (y === height - 1 || m[p + width])
          ? 1
          : 0;
    }
  return o;
}

/**
 * Mean grey of the mediastinum (on each row, the pixels between the two fields) minus that of the two
 * fields, / 255; 0 when no row holds both fields.
 */
function mediastinumContrast(
  label: Int32Array,
  a: number,
  b: number,
  leftOf: (id: number) => boolean,
  width: number,
  height: number,
  pixels: ArrayLike<number>,
): number {
  const [l, r] = leftOf(a) ? [a, b] : [b, a];
  let midSum = 0;
  let midN = 0;
  let lungSum = 0;
  let lungN = 0;
  for (let y = 0; y < height; y++) {
    let lEnd = -1;
    let rStart = width;
    for (let x = 0; x < width; x++) {
      const id = label[y * width + x]!;
      if (id === l) lEnd = x;
      else if (id === r && rStart === width) rStart = x;
      if (id === l || id === r) {
        lungSum += pixels[y * width + x]!;
        lungN++;
      }
    }
    if (lEnd < 0 || rStart === width || rStart <= lEnd + 1) continue;
    for (let x = lEnd + 1; x < rStart; x++) {
      midSum += pixels[y * width + x]!;
      midN++;
    }
  }
  return midN && lungN ? (midSum / midN - lungSum / lungN) / 255 : 0;
}
