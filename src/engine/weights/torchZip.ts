// Reads the zip checkpoints torch.save writes (PyTorch ≥ 1.6): `<name>/data.pkl` (the
// object, pickled with protocol 2, tensors as persistent ids), `<name>/data/<key>` (one raw
// storage per key, usually stored uncompressed and 64-byte aligned), `<name>/byteorder` and
// `<name>/version`. The pickle goes through the restricted unpickler with an allow-list of
// what a state dict needs; tensors are lazy references until read, so listing a checkpoint
// reads only data.pkl, and reading one is a positioned read per storage straight from disk.
import { closeSync, fstatSync, openSync, read } from 'node:fs';
import { promisify } from 'node:util';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import type { HostTensor } from '../types.js';
import { PyDict, PyGlobal, PyTuple, unpickle, type AllowedGlobal, type PyValue } from './pickle.js';

/** Element types of torch storages. BOOL/I8/I16 have no engine dtype and are widened on read. */
type StorageDtype = HostTensor['dtype'] | 'BOOL' | 'I8' | 'I16';

const STORAGE_TYPES: Record<string, StorageDtype> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};
const DTYPES: Record<string, StorageDtype> = {
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  double: 'F64',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};
const ELEMENT_BYTES: Record<StorageDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  U8: 1,
  BOOL: 1,
  I8: 1,
  I16: 2,
};

interface TorchStorage {
  key: string;
  dtype: StorageDtype;
  /** Elements (of dtype) in the storage; 0 for an untyped storage, whose size is the entry's. */
  numel: number;
  location: string;
  untyped: boolean;
}

/** A tensor as the checkpoint describes it: a strided view of a storage. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly dtype: StorageDtype,
  ) {}
  /** The engine dtype this tensor is read as. */
  get hostDtype(): HostTensor['dtype'] {
    return hostDtype(this.dtype);
  }
  // torch 2.x pickles Parameters with extra state (BUILD); it carries no weights.
  buildState(): void {}
}

function hostDtype(d: StorageDtype): HostTensor['dtype'] {
  return d === 'BOOL' ? 'U8' : d === 'I8' || d === 'I16' ? 'I32' : d;
}

const LEGACY_MAGIC = Uint8Array.from([
  0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
]);
const RESAVE =
  "re-save it with Python as a zip checkpoint: torch.save(torch.load(f, map_location='cpu'), 'new.pth', " +
  '_use_new_zipfile_serialization=True) (only in an environment you trust: loading a legacy file runs its ' +
  'pickle)';

/** What kind of file this is, from its first bytes. */
export function sniffWeights(head: Uint8Array): 'zip' | 'torch-legacy' | 'tar' | 'pickle' | 'safetensors' | 'unknown' {
  if (head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05)) return 'zip';
  if (LEGACY_MAGIC.every((b, i) => head[i] === b)) return 'torch-legacy';
  if (head.length >= 262 && String.fromCharCode(...head.subarray(257, 262)) === 'ustar') return 'tar';
  if (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'pickle';
  if (head.length >= 9 && head[8] === 0x7b) return 'safetensors'; // u64 header length, then '{'
  return 'unknown';
}

export function legacyFormatError(file: string, kind: 'torch-legacy' | 'tar' | 'pickle'): Error {
  const what =
    kind === 'tar'
      ? 'a PyTorch < 0.4 tar checkpoint'
      : kind === 'pickle'
        ? 'a plain Python pickle, not a torch.save zip'
        : 'a legacy (pre-1.6, non-zip) PyTorch checkpoint';
  return new Error(`${file} is ${what}; cxrtune reads only the zip format: ${RESAVE}`);
}

function tensorArgs(args: PyValue[], withDtype: boolean, what: string): TorchTensorRef {
  const [storage, offset, size, stride] = args;
  const dtypeToken = withDtype ? args[6] : undefined;
  if (!(storage instanceof Object) || !('key' in (storage as object)))
    throw new Error(`${what}: tensor without a storage`);
  const s = storage as TorchStorage;
  const ints = (v: PyValue, name: string): number[] => {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
    if (!items?.every((x) => Number.isInteger(x) && (x as number) >= 0)) throw new Error(`${what}: bad tensor ${name}`);
    return items as number[];
  };
  const shape = ints(size ?? null, 'size');
  const strides = ints(stride ?? null, 'stride');
  if (shape.length !== strides.length) throw new Error(`${what}: tensor size and stride disagree`);
  if (!Number.isInteger(offset) || (offset as number) < 0) throw new Error(`${what}: bad storage offset`);
  let dtype = s.dtype;
  if (withDtype) {
    if (!(dtypeToken instanceof PyGlobal) || !(dtypeToken.name in DTYPES))
      throw new Error(`${what}: unsupported tensor dtype`);
    dtype = DTYPES[dtypeToken.name]!;
  }
  return new TorchTensorRef(s, offset as number, shape, strides, dtype);
}

/** The allow-list: what a state dict (or a checkpoint dict around one) needs, nothing callable beyond it. */
function allowedGlobals(what: string): Record<string, AllowedGlobal> {
  const g: Record<string, AllowedGlobal> = {
    'collections.OrderedDict': {
      call: (args) => {
        const d = new PyDict('OrderedDict');
        const items = args[0];
        if (Array.isArray(items))
          for (const kv of items)
            if (kv instanceof PyTuple && kv.items.length === 2) d.map.set(kv.items[0] as string, kv.items[1]!);
        return d;
      },
    },
    'torch._utils._rebuild_tensor_v2': { call: (a) => tensorArgs(a, false, what) },
    'torch._utils._rebuild_tensor_v3': { call: (a) => tensorArgs(a, true, what) },
    'torch._utils._rebuild_parameter': { call: (a) => a[0] ?? null },
    'torch._utils._rebuild_parameter_with_state': { call: (a) => a[0] ?? null },
    'torch.Size': { call: (a) => a[0] ?? new PyTuple([]) },
    'torch.device': { call: (a) => a.map(String).join(':') },
    // Protocol 2 has no bytes type: Python 3 pickles bytes as _codecs.encode(str, 'latin1').
    '_codecs.encode': {
      call: ([s, enc]) => {
        if (typeof s !== 'string') throw new Error(`${what}: _codecs.encode of a non-string`);
        return new Uint8Array(Buffer.from(s, enc === 'latin1' || enc === 'latin-1' ? 'latin1' : 'utf8'));
      },
    },
  };
  for (const name of [...Object.keys(STORAGE_TYPES), 'UntypedStorage']) g[`torch.${name}`] = {};
  for (const name of Object.keys(DTYPES)) g[`torch.${name}`] = {};
  return g;
}

export class TorchArchive {
  private readonly storageBytes = new Map<string, Promise<Uint8Array>>();

  private constructor(
    readonly file: string,
    private readonly src: Source,
    private readonly zip: ZipFile,
    private readonly entries: Map<string, Entry>,
    readonly prefix: string,
    readonly byteorder: 'little' | 'big',
    /** The unpickled object: dicts, lists, scalars and TorchTensorRefs. */
    readonly root: PyValue,
  ) {}

  /**
   * whole: read the file in one go and hand out tensors as views of it (fastest: one read,
   * no copies; torch aligns every storage to 64 bytes). Otherwise only data.pkl is read,
   * through the descriptor (for listing), and storages by positioned reads on demand.
   */
  static async open(file: string, opts: { whole?: boolean } = {}): Promise<TorchArchive> {
    let fd = -1;
    let buf: Buffer | null = null;
    try {
      fd = openSync(file, 'r');
      if (opts.whole) {
        buf = await readWhole(fd);
        closeSync(fd);
        fd = -1;
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(
        code === 'ENOENT' ? `weights file not found: ${file}` : `cannot read ${file}: ${(e as Error).message}`,
      );
    }
    let zip: ZipFile | undefined;
    try {
      const head = new Uint8Array(512);
      if (buf) head.set(buf.subarray(0, 512));
      else await readAt(fd, head, 0, 512, 0);
      const kind = sniffWeights(head);
      if (kind === 'torch-legacy' || kind === 'tar' || kind === 'pickle') throw legacyFormatError(file, kind);
      if (kind !== 'zip')
        throw new Error(`${file} is not a PyTorch checkpoint (neither a torch.save zip nor a legacy pickle)`);
      try {
        const o = { lazyEntries: true, autoClose: false, strictFileNames: false };
        zip = buf ? await yauzl.fromBufferPromise(buf, o) : await yauzl.fromFdPromise(fd, o);
      } catch (e) {
        throw new Error(`${file} is a damaged or truncated zip: ${(e as Error).message}`);
      }
      const entries = new Map<string, Entry>();
      for await (const e of zip.eachEntry()) entries.set(e.fileName, e);
      const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (pkls.length !== 1) {
        const script = [...entries.keys()].some((n) => /(^|\/)(code\/|constants\.pkl$)/.test(n));
        throw new Error(
          script
            ? `${file} is a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() ` +
                `with torch.save instead`
            : `${file} is a zip but not a torch.save checkpoint (${pkls.length ? 'several' : 'no'} <name>/data.pkl)`,
        );
      }
      const prefix = pkls[0]!.slice(0, -'/data.pkl'.length);
      const src: Source = buf ? { buf } : { fd };
      const readSmall = async (name: string) =>
        entries.has(name) ? readEntry(file, src, zip!, entries.get(name)!) : null;
      const bo = await readSmall(`${prefix}/byteorder`);
      const byteorder = bo ? Buffer.from(bo).toString('latin1').trim() : 'little';
      if (byteorder !== 'little' && byteorder !== 'big') throw new Error(`${file}: unknown byte order '${byteorder}'`);
      const storages = new Map<string, TorchStorage>();
      const what = `${file} (data.pkl)`;
      const root = unpickle((await readSmall(pkls[0]!))!, {
        what,
        globals: allowedGlobals(what),
        persistentLoad: (pid) => {
          const t = pid instanceof PyTuple ? pid.items : [];
          const [tag, type, key, location, numel] = t;
          if (tag !== 'storage' || !(type instanceof PyGlobal) || typeof key !== 'string')
            throw new Error(`${what}: unknown persistent id`);
          const untyped = type.name === 'UntypedStorage';
          const dtype = untyped ? 'U8' : STORAGE_TYPES[type.name];
          if (!dtype) throw new Error(`${what}: unsupported storage type torch.${type.name}`);
          if (!entries.has(`${prefix}/data/${key}`))
            throw new Error(`${file} is incomplete: storage ${key} is missing`);
          let s = storages.get(key);
          if (!s) {
            s = { key, dtype, numel: Number(numel), location: String(location), untyped };
            storages.set(key, s);
          }
          return s;
        },
      });
      return new TorchArchive(file, src, zip, entries, prefix, byteorder, root);
    } catch (e) {
      // yauzl owns the descriptor once it has opened the zip (its close() closes it).
      if (zip) zip.close();
      else if (fd >= 0) closeSync(fd);
      throw e;
    }
  }

  /** Reads a tensor into a contiguous, little-endian host tensor (views of one storage share its bytes). */
  async read(t: TorchTensorRef): Promise<HostTensor> {
    const es = ELEMENT_BYTES[t.dtype];
    const bytes = await this.storage(t.storage);
    const storageNumel = Math.floor(bytes.byteLength / es);
    if (!t.storage.untyped && t.storage.numel * ELEMENT_BYTES[t.storage.dtype] !== bytes.byteLength) {
      throw new Error(
        `${this.file} is corrupt: storage ${t.storage.key} has ${bytes.byteLength} bytes, expected ` +
          `${t.storage.numel} × ${ELEMENT_BYTES[t.storage.dtype]}`,
      );
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    let last = t.offset;
    for (let i = 0; i < t.shape.length; i++) if (t.shape[i]! > 0) last += (t.shape[i]! - 1) * t.stride[i]!;
    if (n > 0 && last >= storageNumel)
      throw new Error(`${this.file} is corrupt: a tensor reaches past the end of storage ${t.storage.key}`);
    let data: Uint8Array;
    if (isContiguous(t.shape, t.stride)) data = bytes.subarray(t.offset * es, (t.offset + n) * es);
    else data = gather(bytes, es, t.offset, t.shape, t.stride);
    if (this.byteorder === 'big' && es > 1) data = swapBytes(data, es);
    return { dtype: t.hostDtype, shape: [...t.shape], data: widen(data, t.dtype) };
  }

  /** Drops the storages read so far (after the tensors have been handed on). */
  release(): void {
    this.storageBytes.clear();
  }

  async close(): Promise<void> {
    this.release();
    this.zip.close(); // closes the descriptor
  }

  private storage(s: TorchStorage): Promise<Uint8Array> {
    let p = this.storageBytes.get(s.key);
    if (!p) {
      p = readEntry(this.file, this.src, this.zip, this.entries.get(`${this.prefix}/data/${s.key}`)!);
      this.storageBytes.set(s.key, p);
    }
    return p;
  }
}

const readP = promisify(read);
async function readAt(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return (await readP(fd, buf, off, len, pos)).bytesRead;
}

/** The whole file in one positioned read (faster than readFile's 512 KiB chunks). */
async function readWhole(fd: number): Promise<Buffer> {
  const n = fstatSync(fd).size;
  const b = Buffer.allocUnsafeSlow(n);
  let got = 0;
  while (got < n) {
    const r = await readAt(fd, b, got, Math.min(n - got, 1 << 30), got);
    if (!r) throw new Error('file shrank while being read');
    got += r;
  }
  return b;
}

/** An entry's bytes: stored entries (what torch writes) by one positioned read into their own buffer. */
type Source = { fd: number } | { buf: Buffer };

async function readEntry(file: string, src: Source, zip: ZipFile, e: Entry): Promise<Uint8Array> {
  if (e.compressionMethod === 0) {
    const { fileDataStart } = await zip.readLocalFileHeaderPromise(e, { minimal: true });
    if ('buf' in src) {
      const v = src.buf.subarray(fileDataStart, fileDataStart + e.uncompressedSize);
      // Views keep the alignment the file has; an odd one (a zip not written by torch) is copied.
      return v.byteOffset % 8 ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
    const fd = src.fd;
    // Not zero-filled: every byte is read over (or the read fails).
    const b = Buffer.allocUnsafeSlow(e.uncompressedSize);
    const buf = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    let got = 0;
    while (got < buf.byteLength) {
      const bytesRead = await readAt(fd, buf, got, buf.byteLength - got, fileDataStart + got);
      if (!bytesRead) throw new Error(`${file} is truncated (${e.fileName})`);
      got += bytesRead;
    }
    return buf;
  }
  const stream = await zip.openReadStreamPromise(e);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** Copies a strided view into row-major order, element by element in units of the element size. */
function gather(src: Uint8Array, es: number, offset: number, shape: number[], stride: number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(n * es);
  const aligned = src.byteOffset % es === 0;
  const words = es === 8 ? 2 : 1;
  const unit = es === 8 ? 4 : es;
  const Arr = unit === 4 ? Uint32Array : unit === 2 ? Uint16Array : Uint8Array;
  const s = aligned
    ? new Arr(src.buffer as ArrayBuffer, src.byteOffset, Math.floor(src.byteLength / unit))
    : new Arr(new Uint8Array(src).buffer);
  const d = new Arr(out.buffer);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let so = offset;
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < words; w++) d[i * words + w] = s[so * words + w]!;
    for (let k = nd - 1; k >= 0; k--) {
      idx[k]!++;
      so += stride[k]!;
      if (idx[k]! < shape[k]!) break;
      so -= stride[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

function swapBytes(b: Uint8Array, es: number): Uint8Array {
  const out = new Uint8Array(b.byteLength);
  for (let i = 0; i < b.byteLength; i += es) for (let j = 0; j < es; j++) out[i + j] = b[i + es - 1 - j]!;
  return out;
}

/** BOOL stays bytes (U8); I8/I16 become I32, the nearest engine dtype. */
function widen(b: Uint8Array, d: StorageDtype): Uint8Array {
  if (d !== 'I8' && d !== 'I16') return b;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = b.byteLength / ELEMENT_BYTES[d];
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = d === 'I8' ? dv.getInt8(i) : dv.getInt16(i * 2, true);
  return new Uint8Array(out.buffer);
}
