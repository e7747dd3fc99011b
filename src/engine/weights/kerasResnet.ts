// Keras' ImageNet ResNet-50 (keras.applications; ResNet v1) in torchvision's names.
// What differs from torchvision, and how it is carried over exactly:
// - the downsampling stride sits on the first 1x1 conv → the engine's strideIn1x1 variant;
// - convolutions have biases → folded into the next BatchNorm (running_mean -= bias; exact in
//   eval mode, and in train mode BatchNorm removes any constant per-channel shift anyway);
// - BatchNorm eps 1e-3 (Keras 2.2) or 1.001e-5 → running_var += eps_keras - 1e-5 (torch's);
// - kernels HWIO → OIHW, the Dense kernel transposed;
// - 'caffe' input (BGR, minus the ImageNet mean in 0..255, no scaling) → conv1's input channels
//   reversed so cxrtune feeds RGB, and normalisation mean = mean_rgb/255, std = 1/255.
// Both Keras namings are read: 2.2's (res2a_branch2a, bn_conv1, fc1000) and keras-applications
// ≥ 1.0.7's (conv2_block1_1_conv, conv1_bn, predictions).
import { resnetFromBlocks } from '../models/resnet.js';
import type { Arch, HostTensor, TensorMap } from '../types.js';
import { toFloat32 } from '../dtype.js';
import type { TfjsLayersModel } from './tfjsLayers.js';

const TORCH_BN_EPS = 1e-5;
const CAFFE_MEAN_RGB = [123.68, 116.779, 103.939];

/** Keras layer name → torchvision module path (conv/bn/fc), or null when not a weight layer of ResNet. */
export function kerasResnetModule(name: string): string | null {
  if (name === 'conv1' || name === 'conv1_conv') return 'conv1';
  if (name === 'bn_conv1' || name === 'conv1_bn') return 'bn1';
  if (name === 'fc1000' || name === 'predictions') return 'fc';
  let m = /^(res|bn)(\d)([a-z])_branch(1|2[abc])$/.exec(name);
  if (m) {
    const block = `layer${Number(m[2]) - 1}.${m[3]!.charCodeAt(0) - 97}`;
    if (m[4] === '1') return `${block}.downsample.${m[1] === 'res' ? 0 : 1}`;
    return `${block}.${m[1] === 'res' ? 'conv' : 'bn'}${'abc'.indexOf(m[4]!.slice(1)) + 1}`;
  }
  m = /^conv(\d)_block(\d+)_([0-3])_(conv|bn)$/.exec(name);
  if (m) {
    const block = `layer${Number(m[1]) - 1}.${Number(m[2]) - 1}`;
    if (m[3] === '0') return `${block}.downsample.${m[4] === 'conv' ? 0 : 1}`;
    return `${block}.${m[4]}${m[3]}`;
  }
  return null;
}

export function isKerasResnet(model: TfjsLayersModel): boolean {
  const names = new Set(model.layers.map((l) => l.name));
  return (
    (names.has('res2a_branch2a') || names.has('conv2_block1_1_conv')) &&
    (names.has('fc1000') || names.has('predictions'))
  );
}

/** The architecture, whether the stride is in the 1x1 conv, and the BatchNorm eps, from the topology. */
function kerasResnetSpec(model: TfjsLayersModel): { arch: Arch; strideIn1x1: boolean; eps: number } {
  const blocks = new Map<number, Set<number>>();
  let eps: number | null = null;
  let strideIn1x1 = false;
  for (const l of model.layers) {
    const path = kerasResnetModule(l.name);
    if (!path) continue;
    const m = /^layer(\d)\.(\d+)\./.exec(path);
    if (m) {
      if (!blocks.has(Number(m[1]))) blocks.set(Number(m[1]), new Set());
      blocks.get(Number(m[1]))!.add(Number(m[2]));
    }
    if (l.class_name === 'BatchNormalization') {
      const e = Number(l.config.epsilon ?? 1e-3);
      if (eps !== null && Math.abs(e - eps) > 1e-12)
        throw new Error(`${model.file}: BatchNorm layers with different eps (${eps}, ${e})`);
      eps = e;
    }
    if (/^layer2\.0\.conv1$/.test(path)) strideIn1x1 = JSON.stringify(l.config.strides) === '[2,2]';
  }
  const counts = [1, 2, 3, 4].map((i) => blocks.get(i)?.size ?? 0).join(',');
  const arch = resnetFromBlocks(true, counts);
  if (!arch) throw new Error(`${model.file}: a Keras ResNet with blocks ${counts} per stage is not ResNet-50/101/152`);
  return { arch, strideIn1x1, eps: eps ?? 1e-3 };
}

const f32 = (v: Float32Array, shape: number[]): HostTensor => ({
  dtype: 'F32',
  shape,
  data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
});

/** [kh, kw, in, out] → [out, in, kh, kw], optionally reversing the input channels. */
function convKernel(t: HostTensor, reverseIn = false): HostTensor {
  const [kh, kw, ci, co] = t.shape as [number, number, number, number];
  const src = toFloat32(t);
  const out = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) {
          const ii = reverseIn ? ci - 1 - i : i;
          out[((o * ci + ii) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o]!;
        }
  return f32(out, [co, ci, kh, kw]);
}

export function kerasResnetToTorchvision(model: TfjsLayersModel): {
  arch: Arch;
  tensors: TensorMap;
  metadata: Record<string, string>;
} {
  const { arch, eps } = kerasResnetSpec(model);
  const w = model.weights;
  if (!w) throw new Error(`${model.file}: weights were not read`);
  const get = (layer: string, p: string) => w.get(`${layer}/${p}`);
  const tensors: TensorMap = new Map();
  const convBias = new Map<string, Float32Array>();
  const convToBn = (path: string) =>
    path
      .replace(/conv(\d)$/, 'bn$1')
      .replace(/^conv1$/, 'bn1')
      .replace(/downsample\.0$/, 'downsample.1');
  for (const l of model.layers) {
    const path = kerasResnetModule(l.name);
    if (!path) continue;
    if (l.class_name === 'Conv2D') {
      const k = get(l.name, 'kernel');
      if (!k) throw new Error(`${model.file}: no kernel for ${l.name}`);
      tensors.set(`${path}.weight`, convKernel(k, path === 'conv1'));
      const b = get(l.name, 'bias');
      if (b) convBias.set(convToBn(path), toFloat32(b));
    } else if (l.class_name === 'BatchNormalization') {
      const mean = get(l.name, 'moving_mean');
      const v = get(l.name, 'moving_variance');
      if (!mean || !v) throw new Error(`${model.file}: no moving statistics for ${l.name}`);
      const n = mean.shape[0]!;
      const gamma = get(l.name, 'gamma');
      const beta = get(l.name, 'beta');
      tensors.set(`${path}.weight`, gamma ? f32(toFloat32(gamma), [n]) : f32(new Float32Array(n).fill(1), [n]));
      tensors.set(`${path}.bias`, beta ? f32(toFloat32(beta), [n]) : f32(new Float32Array(n), [n]));
      tensors.set(`${path}.running_mean`, f32(toFloat32(mean), [n]));
      const rv = toFloat32(v);
      for (let i = 0; i < n; i++) rv[i] = rv[i]! + (eps - TORCH_BN_EPS);
      tensors.set(`${path}.running_var`, f32(rv, [n]));
    } else if (l.class_name === 'Dense') {
      const k = get(l.name, 'kernel');
      const b = get(l.name, 'bias');
      if (!k || !b) throw new Error(`${model.file}: no kernel/bias for ${l.name}`);
      const [fi, fo] = k.shape as [number, number];
      const src = toFloat32(k);
      const t = new Float32Array(src.length);
      for (let i = 0; i < fi; i++) for (let o = 0; o < fo; o++) t[o * fi + i] = src[i * fo + o]!;
      tensors.set('fc.weight', f32(t, [fo, fi]));
      tensors.set('fc.bias', f32(toFloat32(b), [fo]));
    }
  }
  for (const [bn, bias] of convBias) {
    const rm = tensors.get(`${bn}.running_mean`);
    if (!rm) throw new Error(`${model.file}: a conv bias with no BatchNorm after it (${bn})`);
    const m = toFloat32(rm);
    for (let i = 0; i < m.length; i++) m[i] = m[i]! - bias[i]!;
    tensors.set(`${bn}.running_mean`, f32(m, [m.length]));
  }
  return { arch, tensors, metadata: kerasResnetMetadata(model, tensors.get('fc.weight')?.shape[0] ?? 1000) };
}

/** What the converted weights are and how they must be fed (metadata strings). */
export function kerasResnetMetadata(model: TfjsLayersModel, numClasses = 1000): Record<string, string> {
  const { arch, strideIn1x1, eps } = kerasResnetSpec(model);
  return {
    format: 'pt',
    arch,
    layout: `torchvision.models.${arch} state_dict, ResNet v1 (stride_in_1x1)`,
    stride_in_1x1: String(strideIn1x1),
    mean: JSON.stringify(CAFFE_MEAN_RGB.map((m) => m / 255)),
    std: JSON.stringify([1 / 255, 1 / 255, 1 / 255]),
    input_size: '224',
    num_classes: String(numClasses),
    source: `Keras ${arch} ImageNet (keras ${model.kerasVersion}) from a TensorFlow.js layers model`,
    conversion:
      `conv biases folded into BatchNorm running_mean; BatchNorm eps ${eps} → running_var += ${eps} - 1e-5; ` +
      `conv1 input channels reversed (Keras caffe input is BGR); normalisation = caffe mean/255, std 1/255`,
  };
}
