// `bench --vs-onnxruntime`: both sides time the same network on the same pixels, and a ratio is
// the quotient of the two sides' figures of the same round (images/s: ours ÷ ONNX Runtime's;
// batch-1: ONNX Runtime's ms ÷ ours). No time is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchVsOnnxRuntime, formatOrtTable } from '../../src/bench/onnxRuntimeBench.js';
import { deviceInfo } from '../../src/engine/runtime.js';

test('one round: each ratio is the quotient of the two sides, and the table says it is noise', async () => {
  const r = await benchVsOnnxRuntime({
    arch: 'mobilenet_v2',
    size: 64,
    batch: 2,
    threads: 1,
    steps: 1,
    warmup: 1,
    rounds: 1,
  });
  assert.equal(r.threads, 1);
  assert.ok(Math.abs(r.predict_ratio - r.predict_img_s / r.ort_predict_img_s) < 1e-9 * r.predict_ratio);
  assert.ok(Math.abs(r.latency_ratio - r.ort_latency_ms / r.latency_ms) < 1e-9 * r.latency_ratio);
  assert.deepEqual(r.predict_ratio_spread, [r.predict_ratio, r.predict_ratio]);
  assert.deepEqual(r.conclusive, { predict: false, latency: false }, 'one round concludes nothing');
  assert.match(formatOrtTable([r], 1.3), /mobilenet_v2 +64 +2 .*noise/);
  // The table names what ran the engine's convolutions, as `cxrtune info` does.
  assert.equal(r.engine_conv, deviceInfo().inferenceConv);
  assert.match(formatOrtTable([r], 1.3), new RegExp(`engine convolutions ${r.engine_conv}`));
});
