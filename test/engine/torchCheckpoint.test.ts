// Golden tests of the safe PyTorch checkpoint reader against Debian's torch/torchvision:
// checkpoints written by torch.save (state dicts, legacy DenseNet names, a DataParallel
// training checkpoint, f16/bf16, strided views, big-endian) give torchvision's logits and
// values; a checkpoint with a malicious __reduce__ is refused by name and runs nothing.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Model } from '../../src/engine/model.js';
import type { Arch, Batch } from '../../src/engine/types.js';
import { readSafetensors } from '../../src/engine/safetensors.js';
import { toFloat32 } from '../../src/engine/dtype.js';
import { loadPretrained } from '../../src/engine/pretrained.js';
import { readWeights, weightsInfo } from '../../src/engine/weights/weightsFile.js';
import { loadNative, projectRoot } from '../../src/engine/native.js';
import type { TensorMap } from '../../src/engine/types.js';

const PY = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
const SCRIPT = join(projectRoot(), 'test', 'oracle', 'torch_checkpoints.py');
const dir = mkdtempSync(join(tmpdir(), 'cxrtune-pth-'));
const SENTINEL = join(dir, 'SENTINEL');
let expected: TensorMap;
let batch: Batch;
let skip = '';

before(() => {
  if (!existsSync(PY)) {
    skip = `${PY} is missing (Debian's python3-torchvision writes the fixtures)`;
    return;
  }
  loadNative().setThreads(2);
  execFileSync(PY, [SCRIPT, dir], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
});

async function fixtures() {
  if (!expected) {
    expected = (await readSafetensors(join(dir, 'expected.safetensors'))).tensors;
    const px = expected.get('pixels')!;
    batch = { pixels: px.data, shape: px.shape as Batch['shape'] };
  }
  return expected;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// Two fp32 forwards of one network differ by reassociation only (BatchNorm folded into the convolutions,
// another summation order): a few ulp of the largest logit (|logit| ≤ 4 here, ulp 4.8e-7); measured ≤ 4e-6.
const FP32_FORWARD = 1e-5;
// A checkpoint's dtype adds 0 to that: widening f16/bf16 to fp32 is exact, and the oracle ran the same rounded
// weights (torch_checkpoints.py: v.half().float(), v.bfloat16().float()), so both sides hold one fp32 network.
// The rounding itself moves these logits by 2.7e-3 (f16) and 1.8e-2 (bf16), checked below to be far over the
// bound: an import that dropped the rounding, or rounded once more to the other dtype, fails.
const cases: { file: string; arch: Arch; classes: number; logits: string; dtype: 'F32' | 'F16' | 'BF16' }[] = [
  { file: 'resnet18.pth', arch: 'resnet18', classes: 1000, logits: 'resnet18', dtype: 'F32' },
  { file: 'densenet121-legacy.pth', arch: 'densenet121', classes: 1000, logits: 'densenet121', dtype: 'F32' },
  { file: 'dataparallel.pth.tar', arch: 'resnet18', classes: 3, logits: 'dataparallel', dtype: 'F32' },
  { file: 'resnet18-f16.pth', arch: 'resnet18', classes: 1000, logits: 'resnet18-f16', dtype: 'F16' },
  { file: 'resnet18-bf16.pth', arch: 'resnet18', classes: 1000, logits: 'resnet18-bf16', dtype: 'BF16' },
];

for (const c of cases) {
  test(`${c.file}: imports to torchvision's logits within ${FP32_FORWARD}`, async (t) => {
    if (skip) return t.skip(skip);
    const exp = await fixtures();
    const info = await weightsInfo(join(dir, c.file));
    assert.equal(info.metadata.arch, c.arch, 'architecture recognised from the names');
    const m = await Model.create({ arch: c.arch, numClasses: c.classes });
    const logs: string[] = [];
    const rep = await loadPretrained(m, join(dir, c.file), (s) => logs.push(s));
    assert.equal(rep.reinitialised.length, 0);
    const ours = (await m.predict(batch)).logits;
    const d = maxAbsDiff(ours, toFloat32(exp.get(`logits.${c.logits}`)!));
    assert.ok(d < FP32_FORWARD, `max |Δlogit| = ${d}`);
    if (c.dtype !== 'F32') {
      const effect = maxAbsDiff(toFloat32(exp.get('logits.resnet18')!), toFloat32(exp.get(`logits.${c.logits}`)!));
      assert.ok(effect > 100 * FP32_FORWARD, `the ${c.dtype} rounding moves the logits by ${effect} only`);
    }
    if (c.file.startsWith('dataparallel'))
      assert.ok(
        logs.some((l) => /under 'state_dict'.*epoch, arch, best_auc, optimizer/.test(l)),
        logs.join('\n'),
      );
    if (c.file.includes('legacy'))
      assert.ok(
        logs.some((l) => /names mapped/.test(l)),
        logs.join('\n'),
      );
  });
}

test('strided views, shared storages, f64/i64/bool/i8 and a big-endian file read as torch holds them', async (t) => {
  if (skip) return t.skip(skip);
  const exp = await fixtures();
  for (const file of ['views.pth', 'views-big.pth']) {
    const w = await readWeights(join(dir, file));
    for (const name of ['base', 't', 'slice', 'col', 'step', 'f64', 'i64', 'flag', 'i8', 'f16t']) {
      const got = w.tensors.get(name)!;
      const want = exp.get(`tensors.${name}`)!;
      assert.deepEqual(got.shape, want.shape, `${file} ${name} shape`);
      assert.deepEqual([...toFloat32(got)], [...toFloat32(want)], `${file} ${name} values`);
    }
    assert.equal(w.tensors.get('f64')!.dtype, 'F64');
    assert.equal(w.tensors.get('i64')!.dtype, 'I64');
    assert.equal(w.tensors.get('flag')!.dtype, 'U8');
    assert.equal(w.tensors.get('i8')!.dtype, 'I32');
    assert.equal(w.tensors.get('f16t')!.dtype, 'F16');
  }
});

test('a checkpoint whose pickle calls os.system is refused by name and runs nothing', async (t) => {
  if (skip) return t.skip(skip);
  await assert.rejects(readWeights(join(dir, 'malicious.pth')), /refused to load global '(posix|os)\.system'/);
  await assert.rejects(weightsInfo(join(dir, 'malicious.pth')), /(posix|os)\.system/);
  const m = await Model.create({ arch: 'resnet18', numClasses: 2 });
  await assert.rejects(
    loadPretrained(m, join(dir, 'malicious.pth'), () => undefined),
    /(posix|os)\.system/,
  );
  assert.equal(existsSync(SENTINEL), false, 'the payload ran');
  // Control: the payload is real — Python's own unrestricted torch.load runs it.
  execFileSync(PY, ['-c', `import torch; torch.load(${JSON.stringify(join(dir, 'malicious.pth'))})`], {
    stdio: 'ignore',
  });
  assert.equal(existsSync(SENTINEL), true, 'the control did not run the payload');
});

test('a legacy (pre-1.6) file says how to re-save it; a pickled model says to save its state_dict', async (t) => {
  if (skip) return t.skip(skip);
  await assert.rejects(
    readWeights(join(dir, 'legacy.pth')),
    /legacy \(pre-1\.6, non-zip\).*_use_new_zipfile_serialization=True/,
  );
  await assert.rejects(
    readWeights(join(dir, 'whole-model.pth')),
    /refused to load global 'torchvision\.models\.resnet\.ResNet'.*save model\.state_dict\(\)/,
  );
});
