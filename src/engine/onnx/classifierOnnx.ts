// A classifier as an ONNX graph: the engine's input step, the family's blocks and head (each
// family file writes its own, engine/models), and two outputs: `logits` and `features`, the
// family's Grad-CAM layer (its last block), from which a class-activation map needs no gradient
// (engine/gradCam.ts classActivationMaps; docs/onnx.md).
import { familyOf } from '../models/registry.js';
import type { Arch, Normalisation, TensorMap } from '../types.js';
import { OnnxGraph } from './graph.js';

export interface ClassifierOnnxSpec {
  arch: Arch;
  /** The weights by torchvision's names (a checkpoint's model.safetensors). */
  state: TensorMap;
  /** Side of the square input (the preprocessing record's size). */
  size: number;
  normalisation: Normalisation;
  strideIn1x1?: boolean;
}

/** The graph, not yet encoded (OnnxGraph.encode writes the file). */
export function classifierGraph(s: ClassifierOnnxSpec): OnnxGraph {
  const family = familyOf(s.arch);
  const g = new OnnxGraph(s.state);
  const x = g.pixels(s.size, s.normalisation);
  const taps = family.onnxBlocks(g, x, s.arch, { prefix: '', ...(s.strideIn1x1 ? { strideIn1x1: true } : {}) });
  const features = taps.get(family.camLayer);
  if (!features) throw new Error(`${s.arch}: the ONNX graph has no block '${family.camLayer}'`);
  const logits = family.onnxHead(g, features);
  const [classes, channels] = g.shape(`${family.classifier}.weight`) as [number, number];
  g.output('logits', logits, ['batch', classes]);
  g.output('features', features, ['batch', channels, 'features_height', 'features_width']);
  return g;
}
