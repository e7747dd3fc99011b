// safetensors read/write (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw bytes. Checked strictly so a corrupt file is an error, not garbage.
import { readFile } from 'node:fs/promises';
import type { HostTensor, TensorMap } from './types.js';
import { DTYPE_BYTES, numel } from './dtype.js';
import { writeFileAtomic } from '../util/atomicWrite.js';

interface SafetensorsFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

function parseSafetensors(buf: Uint8Array, what = 'safetensors data'): SafetensorsFile {
  if (buf.byteLength < 8) throw new Error(`${what} is not a safetensors file (only ${buf.byteLength} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n < 2 || n > MAX_HEADER || 8 + n > buf.byteLength) {
    throw new Error(
      `${what} is not a safetensors file or is truncated (header length ${n}, file ${buf.byteLength} bytes)`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch {
    throw new Error(`${what} is corrupt: its header is not valid JSON`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new Error(`${what} is corrupt: bad header`);
  const body = buf.subarray(8 + n);
  const tensors: TensorMap = new Map();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (raw ?? {}) as Record<string, string>;
      continue;
    }
    const info = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = info.dtype as HostTensor['dtype'];
    if (!(dtype in DTYPE_BYTES)) throw new Error(`${what}: tensor '${name}' has unsupported dtype ${info.dtype}`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`${what}: tensor '${name}' has a bad shape`);
    }
    const [b, e] = info.data_offsets ?? [-1, -1];
    if (!(Number.isInteger(b) && Number.isInteger(e) && b >= 0 && e >= b && e <= body.byteLength)) {
      throw new Error(`${what} is truncated or corrupt: tensor '${name}' lies outside the file`);
    }
    if (e - b !== numel(info.shape) * DTYPE_BYTES[dtype]) {
      throw new Error(`${what} is corrupt: tensor '${name}' has ${e - b} bytes for shape [${info.shape}] ${dtype}`);
    }
    // Copy so tensors are aligned and independent of the file buffer.
    tensors.set(name, { dtype, shape: info.shape, data: new Uint8Array(body.subarray(b, e)) });
  }
  return { tensors, metadata };
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `weights file not found: ${path}` : `cannot read ${path}: ${(e as Error).message}`,
    );
  }
  return parseSafetensors(buf, path);
}

export function serializeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of tensors) {
    const bytes = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== bytes)
      throw new Error(`tensor '${name}': ${t.data.byteLength} bytes for shape [${t.shape}] ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8); // keep the data 8-byte aligned
  const hbuf = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hbuf.byteLength + off);
  out.writeBigUInt64LE(BigInt(hbuf.byteLength), 0);
  hbuf.copy(out, 8);
  let p = 8 + hbuf.byteLength;
  for (const t of tensors.values()) {
    out.set(t.data, p);
    p += t.data.byteLength;
  }
  return out;
}

export async function writeSafetensors(
  path: string,
  tensors: TensorMap,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
