// A small ONNX graph builder over a state dict: libtorch's C++ API has no ONNX exporter, so each
// family file (engine/models, engine/segmentation) writes its own network with these ops, by
// the same module names as its native file. Initializers keep torchvision's parameter names; a
// convolution followed by an eval-mode BatchNorm is written with the BatchNorm folded in (as the
// engine's eval calls run it, native/src/eval_weights.h), under the convolution's own names.
//
// Choices:
// - Opset 17 and IR version 8: the newest that Debian's reference checker (python3-onnx 1.12)
//   accepts, and every ONNX Runtime since 1.13 runs them.
// - The input is the engine's input (uint8 pixels, NHWC, 1 or 3 channels, after the preprocessing
//   record's decode) and the normalisation is inside the graph, as the engine's native input step
//   does it ((x / 255 − mean) / std in fp32, the same ops in the same order): a deployer cannot
//   pair the file with another mean/std (the Keras ResNet-50 import has its own).
// - Every state tensor must be used (num_batches_tracked aside): a graph that misses a block
//   fails the export instead of shipping a network that differs from the engine's.
import onnxProto from 'onnx-proto';
import { toFloat32 } from '../dtype.js';
import type { Normalisation, TensorMap } from '../types.js';

const { onnx } = onnxProto;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
/** torchvision's (and smp's) BatchNorm2d epsilon. */
const BN_EPS = 1e-5;

/** A float attribute (a bare number is an integer attribute). */
export interface FloatAttr {
  f: number;
}
export type AttrValue = number | number[] | string | FloatAttr;

export interface GraphNode {
  op: string;
  /** Unique; also the name of its (first) output. */
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  raw: Uint8Array;
}

/** A dimension: a fixed size or a named (dynamic) one. */
export type Dim = number | string;

interface ValueInfo {
  name: string;
  elemType: number;
  dims: Dim[];
}

export interface ConvOptions {
  stride?: number;
  pad?: number;
  groups?: number;
  /** The eval-mode BatchNorm after the convolution, folded into its weight and bias. */
  bn?: string;
}

export class OnnxGraph {
  /** Nodes in topological order (tests may alter them to check that a slip is caught). */
  readonly nodes: GraphNode[] = [];
  private readonly inits = new Map<string, Initializer>();
  private readonly used = new Set<string>();
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];

  constructor(private readonly state: TensorMap) {}

  /** Whether the state holds `name`. */
  has(name: string): boolean {
    return this.state.has(name);
  }

  /** Shape of the state tensor `name`. */
  shape(name: string): number[] {
    return this.tensor(name).shape;
  }

  private tensor(name: string) {
    const t = this.state.get(name);
    if (!t) throw new Error(`ONNX export: the weights have no '${name}'`);
    return t;
  }

  /** The state tensor `name` as float32, marked used. */
  private values(name: string): Float32Array {
    this.used.add(name);
    return toFloat32(this.tensor(name));
  }

  /** State names no node read (BatchNorm's step counter aside). */
  unused(): string[] {
    return [...this.state.keys()].filter((k) => !this.used.has(k) && !k.endsWith('num_batches_tracked'));
  }

  private addInit(name: string, dims: number[], dataType: number, raw: Uint8Array): string {
    if (this.inits.has(name)) throw new Error(`ONNX export: initializer '${name}' written twice`);
    this.inits.set(name, { name, dims, dataType, raw });
    return name;
  }

  /** A float32 initializer. */
  floats(name: string, dims: number[], v: Float32Array): string {
    return this.addInit(
      name,
      dims,
      onnx.TensorProto.DataType.FLOAT,
      new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    );
  }

  /** A float scalar constant shared by every node that needs it. */
  private scalar(value: number): string {
    const name = `const.${value}`;
    if (!this.inits.has(name)) this.floats(name, [], Float32Array.of(value));
    return name;
  }

  /** A state tensor as an initializer under its own name. */
  param(name: string): string {
    if (!this.inits.has(name)) this.floats(name, this.shape(name), this.values(name));
    return name;
  }

  node(op: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    if (this.nodes.some((n) => n.name === name)) throw new Error(`ONNX export: node '${name}' written twice`);
    this.nodes.push({ op, name, inputs: [...inputs], outputs: [name], attrs });
    return name;
  }

  input(name: string, elemType: number, dims: Dim[]): string {
    this.inputs.push({ name, elemType, dims });
    return name;
  }

  /** A graph output named `name`, the value `value`. */
  output(name: string, value: string, dims: Dim[]): void {
    this.node('Identity', name, [value]);
    this.outputs.push({ name, elemType: onnx.TensorProto.DataType.FLOAT, dims });
  }

  /**
   * The engine's input step (native/src/core.cc Core::input): uint8 NHWC pixels with 1 or 3
   * channels → float, /255, gray replicated to RGB, NCHW, (x − mean) / std.
   */
  pixels(size: number, normalisation: Normalisation): string {
    const x = this.input('pixels', onnx.TensorProto.DataType.UINT8, ['batch', size, size, 'channels']);
    const f = this.node('Cast', 'input/cast', [x], { to: onnx.TensorProto.DataType.FLOAT });
    const unit = this.node('Div', 'input/scale', [f, this.scalar(255)]);
    const nchw = this.node('Transpose', 'input/nchw', [unit], { perm: [0, 3, 1, 2] });
    // A grey image becomes three channels in the subtraction's broadcast ([N,1,H,W] − [1,3,1,1]):
    // no Expand, and the scale and transpose run on one channel. The same arithmetic, value for value.
    const mean = this.floats('input.mean', [1, 3, 1, 1], Float32Array.from(normalisation.mean));
    const std = this.floats('input.std', [1, 3, 1, 1], Float32Array.from(normalisation.std));
    return this.node('Div', 'input/normalise', [this.node('Sub', 'input/center', [nchw, mean]), std]);
  }

  /** A convolution `conv` (torchvision names: conv.weight, conv.bias), its BatchNorm folded in if given. */
  conv(x: string, conv: string, o: ConvOptions = {}): string {
    const w = this.shape(`${conv}.weight`);
    const [k1, k2] = [w[2]!, w[3]!];
    const pad = o.pad ?? 0;
    const stride = o.stride ?? 1;
    const attrs = {
      kernel_shape: [k1, k2],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
      group: o.groups ?? 1,
    };
    let inputs: string[];
    if (o.bn) {
      const { weight, bias } = this.folded(conv, o.bn);
      inputs = [this.floats(`${conv}.weight`, w, weight), this.floats(`${conv}.bias`, [w[0]!], bias)];
    } else {
      inputs = [this.param(`${conv}.weight`), ...(this.has(`${conv}.bias`) ? [this.param(`${conv}.bias`)] : [])];
    }
    return this.node('Conv', conv, [x, ...inputs], attrs);
  }

  /** w' = w·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε), as native/src/eval_weights.h folds. */
  private folded(conv: string, bn: string): { weight: Float32Array; bias: Float32Array } {
    const w = this.values(`${conv}.weight`);
    const b = this.has(`${conv}.bias`) ? this.values(`${conv}.bias`) : null;
    const [gamma, beta, mean, varr] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) =>
      this.values(`${bn}.${k}`),
    ) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const out = mean.length;
    const per = w.length / out;
    const weight = new Float32Array(w.length);
    const bias = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      const scale = gamma[o]! / Math.sqrt(varr[o]! + BN_EPS);
      bias[o] = beta[o]! + ((b ? b[o]! : 0) - mean[o]!) * scale;
      for (let i = o * per; i < (o + 1) * per; i++) weight[i] = w[i]! * scale;
    }
    return { weight, bias };
  }

  /** An eval-mode BatchNorm that follows no convolution (DenseNet's pre-activation norms, norm5). */
  batchNorm(x: string, bn: string): string {
    const p = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => this.param(`${bn}.${k}`));
    return this.node('BatchNormalization', bn, [x, ...p], { epsilon: { f: BN_EPS } });
  }

  relu(x: string, name: string): string {
    return this.node('Relu', name, [x]);
  }

  /** torchvision's ReLU6: clamp to [0, 6]. */
  relu6(x: string, name: string): string {
    return this.node('Clip', name, [x, this.scalar(0), this.scalar(6)]);
  }

  add(a: string, b: string, name: string): string {
    return this.node('Add', name, [a, b]);
  }

  maxPool(x: string, name: string, k: number, stride: number, pad: number): string {
    return this.node('MaxPool', name, [x], {
      kernel_shape: [k, k],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    });
  }

  avgPool(x: string, name: string, k: number, stride: number): string {
    return this.node('AveragePool', name, [x], { kernel_shape: [k, k], strides: [stride, stride] });
  }

  concat(xs: string[], name: string): string {
    return xs.length === 1 ? xs[0]! : this.node('Concat', name, xs, { axis: 1 });
  }

  /** Nearest-neighbour ×2 (torch's upsample_nearest2d: source index floor(dst / 2)). */
  upsample2x(x: string, name: string): string {
    const scales = this.inits.has('const.scales_2x')
      ? 'const.scales_2x'
      : this.floats('const.scales_2x', [4], Float32Array.of(1, 1, 2, 2));
    return this.node('Resize', name, [x, '', scales], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  }

  /** Global average pooling, flattened, then the linear layer `linear` (weight [out, in], bias). */
  poolLinear(x: string, linear: string): string {
    const pooled = this.node('GlobalAveragePool', `${linear}/pool`, [x]);
    const flat = this.node('Flatten', `${linear}/flatten`, [pooled], { axis: 1 });
    return this.node('Gemm', linear, [flat, this.param(`${linear}.weight`), this.param(`${linear}.bias`)], {
      transB: 1,
    });
  }

  /** The ModelProto's bytes: the graph, opset 17, and `metadata` as metadata_props. */
  encode(o: { name: string; doc: string; metadata: Record<string, string>; producerVersion: string }): Uint8Array {
    const unused = this.unused();
    if (unused.length)
      throw new Error(
        `ONNX export: the graph does not use ${unused.length} weights (${unused.slice(0, 4).join(', ')}…)`,
      );
    const T = onnx.AttributeProto.AttributeType;
    const attr = (name: string, v: AttrValue): onnxProto.onnx.IAttributeProto => {
      if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
      if (typeof v === 'number') return { name, type: T.INT, i: v };
      return { name, type: T.FLOAT, f: v.f };
    };
    const valueInfo = (v: ValueInfo): onnxProto.onnx.IValueInfoProto => ({
      name: v.name,
      type: {
        tensorType: {
          elemType: v.elemType,
          shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      producerName: 'cxrtune',
      producerVersion: o.producerVersion,
      docString: o.doc,
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: o.name,
        node: this.nodes.map((n) => ({
          opType: n.op,
          name: n.name,
          input: n.inputs,
          output: n.outputs,
          attribute: Object.entries(n.attrs).map(([k, v]) => attr(k, v)),
        })),
        initializer: [...this.inits.values()].map((t) => ({
          name: t.name,
          dims: t.dims,
          dataType: t.dataType,
          rawData: t.raw,
        })),
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** A float32 initializer of an ONNX file, by name (e.g. the classifier's weight for the CAM). */
export function onnxInitializer(bytes: Uint8Array, name: string): { dims: number[]; data: Float32Array } {
  const m = onnx.ModelProto.decode(bytes);
  const t = m.graph?.initializer?.find((x) => x.name === name);
  if (!t) throw new Error(`the ONNX file has no initializer '${name}'`);
  if (t.dataType !== onnx.TensorProto.DataType.FLOAT || !t.rawData?.length)
    throw new Error(`initializer '${name}' is not raw float32`);
  const raw = t.rawData;
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return { dims: (t.dims ?? []).map(Number), data: new Float32Array(copy.buffer) };
}

/** The file's metadata_props as a plain object. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}
