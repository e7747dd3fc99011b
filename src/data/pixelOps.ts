// Whole-image grey-level operations on 8-bit pixels, with no I/O: the decoder (data/image.ts) and the
// in-browser page (app/export/web) apply the same ones, so they live apart from sharp.

/** Global histogram equalisation in place (CDF mapping, the classic formula). */
export function equalizeHistogram(px: Uint8Array): Uint8Array {
  const hist = new Uint32Array(256);
  for (let i = 0; i < px.length; i++) hist[px[i]!]!++;
  let cdfMin = 0;
  for (let v = 0; v < 256; v++)
    if (hist[v]) {
      cdfMin = hist[v]!;
      break;
    }
  const lut = new Uint8Array(256);
  let cdf = 0;
  const denom = px.length - cdfMin;
  for (let v = 0; v < 256; v++) {
    cdf += hist[v]!;
    lut[v] = denom > 0 ? Math.round(Math.max(0, ((cdf - cdfMin) * 255) / denom)) : v;
  }
  for (let i = 0; i < px.length; i++) px[i] = lut[px[i]!]!;
  return px;
}

/** Per-image standardisation in place: mean 128, std 48, clipped to 0..255 (±2.67σ). */
export function standardizeImage(px: Uint8Array): Uint8Array {
  let sum = 0,
    sq = 0;
  for (let i = 0; i < px.length; i++) {
    sum += px[i]!;
    sq += px[i]! * px[i]!;
  }
  const mean = sum / px.length;
  const std = Math.sqrt(Math.max(0, sq / px.length - mean * mean));
  if (std < 1e-6) return px.fill(128); // a flat image carries no contrast to keep
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.min(255, Math.max(0, Math.round(128 + (48 * (v - mean)) / std)));
  for (let i = 0; i < px.length; i++) px[i] = lut[px[i]!]!;
  return px;
}
