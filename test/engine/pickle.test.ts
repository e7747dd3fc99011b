// The restricted unpickler on hand-written pickles: data opcodes of protocols 0–5 give
// plain values; every global outside the allow-list is refused by name, by any opcode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PyDict, PyTuple, RefusedGlobalError, unpickle } from '../../src/engine/weights/pickle.js';

const bin = (...parts: (string | number[])[]) =>
  new Uint8Array(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p)))));
const none = { globals: {} };

test('protocol 0 text opcodes: dict, list, tuple, ints, floats, strings, memo', () => {
  const v = unpickle(
    bin("(dp0\nVkey\np1\n(lp2\nI7\naF2.5\naI01\naL12345678901234567890L\nas(S'x'\nI-3\ntp3\ng3\ns."),
    none,
  ) as PyDict;
  assert.ok(v instanceof PyDict);
  assert.deepEqual(v.map.get('key'), [7, 2.5, true, 12345678901234567890n]);
  const [k, t] = [...v.map][1]!;
  assert.ok(k instanceof PyTuple && t === k && k.items[0] === 'x' && k.items[1] === -3);
});

test('protocol 2–5 binary opcodes: BININT*, LONG1, BINFLOAT, unicode, bytes, sets, FRAME/MEMOIZE', () => {
  const f = Buffer.alloc(8);
  f.writeDoubleBE(-0.125);
  const v = unpickle(
    bin(
      [0x80, 4, 0x95, 40, 0, 0, 0, 0, 0, 0, 0],
      ']',
      [0x94],
      '(',
      'K',
      [200],
      'M',
      [0x10, 0x27],
      'J',
      [0xff, 0xff, 0xff, 0xff],
      [0x8a, 2, 0x00, 0x80],
      'G',
      [...f],
      [0x8c, 3, 0x68, 0xc3, 0xa9],
      'C',
      [3, 1, 2, 3],
      [0x8f],
      '(',
      'N',
      [0x88],
      [0x90],
      'e',
      '.',
    ),
    none,
  ) as unknown[];
  assert.equal(v[0], 200);
  assert.equal(v[1], 10000);
  assert.equal(v[2], -1);
  assert.equal(v[3], -32768);
  assert.equal(v[4], -0.125);
  assert.equal(v[5], 'hé');
  assert.deepEqual([...(v[6] as Uint8Array)], [1, 2, 3]);
  assert.deepEqual((v[7] as { items: unknown[] }).items, [null, true]);
});

test('globals outside the allow-list are refused by name whichever opcode names them', () => {
  const cases: [Uint8Array, string][] = [
    [bin([0x80, 2], 'cposix\nsystem\n', 'X', [5, 0, 0, 0], 'touch', [0x85], 'R', '.'), 'posix.system'],
    [bin([0x80, 4], [0x8c, 8], 'builtins', [0x8c, 4], 'eval', [0x93], '.'), 'builtins.eval'],
    [bin("(S'ls'\nios\nsystem\n."), 'os.system'],
    [bin([0x80, 2], 'csubprocess\nPopen\n', ')', [0x81], '.'), 'subprocess.Popen'],
  ];
  for (const [data, name] of cases) {
    assert.throws(
      () => unpickle(data, none),
      (e: unknown) => e instanceof RefusedGlobalError && e.global === name && e.message.includes(`'${name}'`),
    );
  }
  // An allowed global that is only a token cannot be called.
  assert.throws(
    () => unpickle(bin([0x80, 2], 'ctorch\nFloatStorage\n', ')', 'R', '.'), { globals: { 'torch.FloatStorage': {} } }),
    /cannot be called/,
  );
  assert.throws(() => unpickle(bin([0x80, 2], [0x82, 1], '.'), none), /EXT/);
});

test('damaged pickles are errors, not garbage', () => {
  assert.throws(() => unpickle(bin([0x80, 2], 'X', [50, 0, 0, 0], 'ab'), none), /truncated/);
  assert.throws(() => unpickle(bin([0x80, 2], 'h', [3], '.'), none), /memo entry 3 missing/);
  assert.throws(() => unpickle(bin([0x80, 2], [0xff]), none), /unknown pickle opcode 0xff/);
  assert.throws(() => unpickle(bin([0x80, 2], 'a', '.'), none), /stack underflow/);
});
