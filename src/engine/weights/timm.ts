// timm weights (Hugging Face `timm/<arch>.<tag>` repos: model.safetensors + config.json)
// for the ResNet and DenseNet families. timm's `tv_in1k` weights are torchvision's, and
// timm's ResNet/DenseNet modules use torchvision's names except where a rule below renames
// them; config.json's pretrained_cfg gives mean/std, input size and the classifier's name.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Arch } from '../types.js';
import { familyOf, isArch } from '../models/registry.js';

interface TimmConfig {
  architecture: string;
  num_classes?: number;
  pretrained_cfg?: {
    tag?: string;
    input_size?: number[];
    mean?: number[];
    std?: number[];
    classifier?: string;
    num_classes?: number;
    license?: string;
    hf_hub_id?: string;
  };
}

/** config.json beside a weights file (a timm / HF snapshot), if it is a timm config. */
export function readTimmConfig(weightsFile: string): TimmConfig | null {
  const f = join(dirname(weightsFile), 'config.json');
  if (!existsSync(f)) return null;
  try {
    const c = JSON.parse(readFileSync(f, 'utf8')) as TimmConfig;
    return typeof c.architecture === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** timm's model name → the torchvision architecture with the same modules, or null. */
export function timmArch(cfg: TimmConfig): Arch | null {
  const a = cfg.architecture.split('.')[0]!;
  return isArch(a) && familyOf(a).timmLayout ? a : null;
}

/** Safetensors-style metadata (strings) from a timm config, as cxrtune's own files carry. */
export function timmMetadata(cfg: TimmConfig): Record<string, string> {
  const p = cfg.pretrained_cfg ?? {};
  const arch = timmArch(cfg);
  const m: Record<string, string> = { layout: 'timm', timm_architecture: cfg.architecture };
  if (arch) m.arch = arch;
  if (p.tag) m.timm_tag = p.tag;
  if (p.mean?.length === 3) m.mean = JSON.stringify(p.mean);
  if (p.std?.length === 3) m.std = JSON.stringify(p.std);
  if (p.input_size?.length === 3) m.input_size = String(p.input_size[2]);
  const n = cfg.num_classes ?? p.num_classes;
  if (n) m.num_classes = String(n);
  if (p.classifier) m.classifier = p.classifier;
  if (p.license) m.license = p.license;
  m.source = `timm ${cfg.architecture}${p.tag ? `.${p.tag}` : ''}`;
  return m;
}

/**
 * timm name → torchvision name. ResNet: conv1/bn1/layerN.M.convK/bnK/downsample.0|1/fc are
 * torchvision's own; DenseNet: features.* likewise (its BatchNormAct2d keeps BatchNorm's
 * parameter names), the head is `classifier`. What differs is the head's name when
 * pretrained_cfg names another one (e.g. 'head.fc'), and DenseNet's legacy 'norm.1' names
 * in old timm checkpoints, which normaliseName handles.
 */
export function timmToTorchvision(arch: Arch, key: string, classifier?: string): string {
  const tv = familyOf(arch).classifier;
  if (classifier && classifier !== tv && key.startsWith(`${classifier}.`)) return tv + key.slice(classifier.length);
  if (key.startsWith('head.fc.')) return tv + key.slice('head.fc'.length);
  return key;
}
