// Recognises a torchvision architecture from state-dict names and shapes (block counts per
// stage), or failing that from a file name such as torchvision's 'resnet152-394f9c45.pth'.
import { ARCHS, archFromStateNames, type Arch } from '../models/registry.js';

/** From state-dict names and shapes: each family recognises its own (models/*.ts). */
export const archFromNames = archFromStateNames;

export function archFromFileName(path: string): Arch | null {
  const base = path.toLowerCase();
  const found = [...ARCHS]
    .sort((a, b) => b.length - a.length)
    .find((a) => new RegExp(`(^|[^a-z0-9])${a}([^0-9]|$)`).test(base) || base.includes(a.replace('_', '')));
  return found ?? null;
}
