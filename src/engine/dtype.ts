// Host-side dtype handling for safetensors: element sizes and half-precision
// conversions (F16 and BF16 <-> F32), round-to-nearest-even like torch.
import type { HostTensor } from './types.js';

export const DTYPE_BYTES: Record<HostTensor['dtype'], number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  U8: 1,
};

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}
function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** The tensor's values as float32 (any floating dtype). */
export function toFloat32(t: HostTensor): Float32Array {
  const n = numel(t.shape);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float32Array(n);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(dv.getUint16(i * 2, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(dv.getUint16(i * 2, true));
      break;
    case 'I64':
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = t.data[i]!;
      break;
  }
  return out;
}

/** A tensor of the given dtype from float values. */
export function fromFloat32(
  values: ArrayLike<number>,
  shape: number[],
  dtype: HostTensor['dtype'] = 'F32',
): HostTensor {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`fromFloat32: ${values.length} values for shape [${shape}]`);
  const data = new Uint8Array(n * DTYPE_BYTES[dtype]);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'F32':
        dv.setFloat32(i * 4, v, true);
        break;
      case 'F64':
        dv.setFloat64(i * 8, v, true);
        break;
      case 'F16':
        dv.setUint16(i * 2, f32ToF16Bits(v), true);
        break;
      case 'BF16':
        dv.setUint16(i * 2, f32ToBf16Bits(v), true);
        break;
      case 'I64':
        dv.setBigInt64(i * 8, BigInt(Math.round(v)), true);
        break;
      case 'I32':
        dv.setInt32(i * 4, Math.round(v), true);
        break;
      case 'U8':
        data[i] = Math.max(0, Math.min(255, Math.round(v)));
        break;
    }
  }
  return { dtype, shape, data };
}
