// A restricted Python unpickler: it builds plain data (numbers, strings, bytes, lists,
// tuples, dicts) and nothing else. A pickle names Python callables with GLOBAL and calls
// them with REDUCE, which is how a checkpoint runs code when Python loads it; here every
// global is looked up in an allow-list given by the caller (like torch.load's
// weights_only=True) and refused by name otherwise, and an allowed global is only ever a
// token that the caller interprets. Nothing in a pickle is executed.
//
// Opcodes: all of protocols 0–5 that describe data (torch.save writes protocol 2).

/** A Python tuple (kept apart from lists so callers can tell them apart). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict (also OrderedDict); keys are primitives, tuples by identity. */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** Instance attributes set by BUILD (OrderedDict's `_metadata` in a state_dict). */
  attrs: PyValue = null;
  constructor(readonly className = 'dict') {}
}

/** An allowed global, as a token; `make` in the allow-list gives what REDUCE returns. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

type PyKey = string | number | bigint | boolean | null | PyTuple;
export type PyValue = PyKey | Uint8Array | PyValue[] | PyDict | PyGlobal | PySet | object;
class PySet {
  readonly items: PyValue[] = [];
}

export interface AllowedGlobal {
  /** What calling the global with these arguments returns (REDUCE / NEWOBJ); absent: not callable. */
  call?: (args: PyValue[]) => PyValue;
}

interface UnpickleOptions {
  /** 'module.name' → how to treat it. Anything not listed is refused. */
  globals: Record<string, AllowedGlobal>;
  /** BINPERSID/PERSID: turns a persistent id into a value (torch's storages). */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Names the data in error messages. */
  what?: string;
}

export class RefusedGlobalError extends Error {
  constructor(
    readonly global: string,
    what: string,
  ) {
    super(
      `${what}: refused to load global '${global}' — it is not plain weights data, and cxrtune never runs ` +
        `code from a checkpoint${hint(global)}`,
    );
  }
}

function hint(g: string): string {
  if (/^(torchvision|torch\.nn|timm|__main__)\./.test(g))
    return ' (the file holds a pickled model object: save model.state_dict() instead)';
  if (/^numpy\./.test(g))
    return ' (a numpy value in the checkpoint: keep only the state_dict, e.g. torch.save(ckpt["state_dict"], f))';
  return '';
}

const MARK = Symbol('mark');
type Item = PyValue | typeof MARK;

const dec = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

export function unpickle(data: Uint8Array, opts: UnpickleOptions): PyValue {
  const what = opts.what ?? 'pickle';
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = 0;
  let stack: Item[] = [];
  const marks: Item[][] = [];
  const memo = new Map<number, PyValue>();

  const fail = (msg: string): never => {
    throw new Error(`${what}: ${msg} (at byte ${p})`);
  };
  const need = (n: number) => {
    if (p + n > data.byteLength) fail('truncated pickle');
  };
  const u8 = () => {
    need(1);
    return data[p++]!;
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(p, true);
    p += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(p, true);
    p += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = dv.getInt32(p, true);
    p += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(data.byteLength)) fail('length beyond the data');
    return Number(v);
  };
  const bytes = (n: number) => {
    need(n);
    const b = data.subarray(p, p + n);
    p += n;
    return b;
  };
  const line = () => {
    const e = data.indexOf(0x0a, p);
    if (e < 0) fail('truncated pickle (no end of line)');
    const s = latin1.decode(data.subarray(p, e));
    p = e + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return dec.decode(b);
    } catch {
      return fail('invalid UTF-8 string');
    }
  };
  const pop = (): PyValue => {
    if (!stack.length) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PyValue;
  };
  const popMark = (): PyValue[] => {
    const items = stack as PyValue[];
    const prev = marks.pop();
    if (!prev) fail('MARK missing');
    stack = prev!;
    return items;
  };
  const global = (module: string, name: string): PyGlobal => {
    const q = `${module}.${name}`;
    if (!Object.hasOwn(opts.globals, q)) throw new RefusedGlobalError(q, what);
    return new PyGlobal(module, name);
  };
  const call = (f: PyValue, args: PyValue[]): PyValue => {
    if (!(f instanceof PyGlobal)) return fail('call of something that is not a global');
    const g = opts.globals[(f as PyGlobal).qualified]!;
    if (!g.call) fail(`'${(f as PyGlobal).qualified}' cannot be called`);
    return g.call!(args);
  };
  const tupleArgs = (v: PyValue): PyValue[] => (v instanceof PyTuple ? v.items : fail('arguments are not a tuple'));
  const setItems = (d: PyValue, kv: PyValue[]) => {
    if (!(d instanceof PyDict)) fail('SETITEM(S) on something that is not a dict');
    if (kv.length % 2) fail('odd number of items for a dict');
    for (let i = 0; i < kv.length; i += 2) (d as PyDict).map.set(key(kv[i]!), kv[i + 1]!);
  };
  const key = (k: PyValue): PyKey => {
    if (k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k) || k instanceof PyTuple)
      return k as PyKey;
    return fail('unhashable dict key');
  };
  const long = (b: Uint8Array): number | bigint => {
    if (!b.length) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const textInt = (s: string): number | bigint | boolean => {
    s = s.trim().replace(/L$/, '');
    if (s === '00') return false;
    if (s === '01') return true;
    if (!/^[-+]?\d+$/.test(s)) fail(`bad integer '${s}'`);
    const v = BigInt(s);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const quoted = (s: string): string => {
    const m = /^(['"])(.*)\1$/s.exec(s.trim());
    if (!m) fail('bad STRING literal');
    // Python's repr escapes; latin-1 bytes. Enough for the simple keys protocol 0 carries.
    return m![2]!.replace(/\\(x[0-9a-fA-F]{2}|n|r|t|\\|'|")/g, (_, e: string) =>
      e[0] === 'x'
        ? String.fromCharCode(parseInt(e.slice(1), 16))
        : (({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e),
    );
  };
  const persistent = (pid: PyValue): PyValue => {
    if (!opts.persistentLoad) fail('persistent id without a loader');
    return opts.persistentLoad!(pid);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: {
        const v = u8();
        if (v > 5) fail(`unsupported pickle protocol ${v}`);
        break;
      } // PROTO
      case 0x95:
        u64();
        break; // FRAME (framing is only a read-ahead hint)
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      case 0x28:
        marks.push(stack);
        stack = [];
        break; // MARK
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      // Scalars
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
        stack.push(long(bytes(u8())));
        break; // LONG1
      case 0x8b: {
        const n = i32();
        if (n < 0) fail('negative length');
        stack.push(long(bytes(n)));
        break;
      } // LONG4
      case 0x49:
        stack.push(textInt(line()));
        break; // INT
      case 0x4c:
        stack.push(textInt(line()));
        break; // LONG
      case 0x47: {
        need(8);
        stack.push(dv.getFloat64(p, false));
        p += 8;
        break;
      } // BINFLOAT (big-endian)
      case 0x46: {
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad float '${s}'`);
        stack.push(v);
        break;
      } // FLOAT
      // Strings and bytes
      case 0x58:
        stack.push(utf8(bytes(u32())));
        break; // BINUNICODE
      case 0x8c:
        stack.push(utf8(bytes(u8())));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(utf8(bytes(u64())));
        break; // BINUNICODE8
      case 0x56:
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
        break; // UNICODE
      case 0x54: {
        const n = i32();
        if (n < 0) fail('negative length');
        stack.push(latin1.decode(bytes(n)));
        break;
      } // BINSTRING (Python 2 str)
      case 0x55:
        stack.push(latin1.decode(bytes(u8())));
        break; // SHORT_BINSTRING
      case 0x53:
        stack.push(quoted(line()));
        break; // STRING
      case 0x42:
        stack.push(new Uint8Array(bytes(u32())));
        break; // BINBYTES
      case 0x43:
        stack.push(new Uint8Array(bytes(u8())));
        break; // SHORT_BINBYTES
      case 0x8e:
        stack.push(new Uint8Array(bytes(u64())));
        break; // BINBYTES8
      case 0x96:
        stack.push(new Uint8Array(bytes(u64())));
        break; // BYTEARRAY8
      // Containers
      case 0x29:
        stack.push(new PyTuple([]));
        break; // EMPTY_TUPLE
      case 0x74: {
        const t = new PyTuple(popMark());
        stack.push(t);
        break;
      } // TUPLE
      case 0x85:
        stack.push(new PyTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      } // TUPLE3
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c: {
        const l = popMark();
        stack.push(l);
        break;
      } // LIST
      case 0x61: {
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) fail('APPEND to something that is not a list');
        (l as PyValue[]).push(v);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) fail('APPENDS to something that is not a list');
        for (const v of items) (l as PyValue[]).push(v);
        break;
      } // APPENDS
      case 0x7d:
        stack.push(new PyDict());
        break; // EMPTY_DICT
      case 0x64: {
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      } // DICT
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x8f:
        stack.push(new PySet());
        break; // EMPTY_SET
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet)) fail('ADDITEMS to something that is not a set');
        for (const v of items) (s as PySet).items.push(v);
        break;
      } // ADDITEMS
      case 0x91: {
        const s = new PySet();
        for (const v of popMark()) s.items.push(v);
        stack.push(s);
        break;
      } // FROZENSET
      // Memo
      case 0x70: {
        const i = textInt(line());
        memo.set(Number(i), top());
        break;
      } // PUT
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x67:
      case 0x68:
      case 0x6a: {
        // GET, BINGET, LONG_BINGET
        const i = op === 0x67 ? Number(textInt(line())) : op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} missing`);
        stack.push(memo.get(i)!);
        break;
      }
      // Globals and calls: the allow-list decides.
      case 0x63: {
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x69: {
        const module = line();
        const name = line();
        const args = popMark();
        const v = call(global(module, name), args);
        stack.push(v);
        break;
      } // INST
      case 0x6f: {
        const items = popMark();
        const f = items.shift();
        const v = call(f ?? null, items);
        stack.push(v);
        break;
      } // OBJ
      case 0x52: {
        const args = pop();
        const f = pop();
        stack.push(call(f, tupleArgs(args)));
        break;
      } // REDUCE
      case 0x81: {
        const args = pop();
        const cls = pop();
        stack.push(call(cls, tupleArgs(args)));
        break;
      } // NEWOBJ
      case 0x92: {
        const kw = pop();
        const args = pop();
        const cls = pop();
        if (!(kw instanceof PyDict) || kw.map.size) fail('NEWOBJ_EX with keyword arguments');
        stack.push(call(cls, tupleArgs(args)));
        break;
      } // NEWOBJ_EX
      case 0x62: {
        // BUILD: instance state; kept as data on dicts, refused elsewhere.
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attrs = state;
        else if (!(typeof obj === 'object' && obj !== null && 'buildState' in obj))
          fail('BUILD on an object that takes no state');
        else (obj as { buildState: (s: PyValue) => void }).buildState(state);
        break;
      }
      case 0x51:
        stack.push(persistent(pop()));
        break; // BINPERSID
      case 0x50:
        stack.push(persistent(line()));
        break; // PERSID
      case 0x82:
      case 0x83:
      case 0x84:
        fail('extension-registry globals (EXT1/2/4) are refused');
        break;
      case 0x97:
      case 0x98:
        fail('out-of-band buffers are not supported');
        break;
      default:
        fail(`unknown pickle opcode 0x${op.toString(16)}`);
    }
  }
}
