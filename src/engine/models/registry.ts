// The architecture registry: every family, and every architecture by name. The only list of
// architectures in the TypeScript code; an unknown name is an error, never a fallback.
import { densenet, DENSENET_ARCHS } from './densenet.js';
import type { Family } from './family.js';
import { mobilenetV2, MOBILENET_ARCHS } from './mobilenetV2.js';
import { resnet, RESNET_ARCHS } from './resnet.js';

export const ARCHS = [...RESNET_ARCHS, ...DENSENET_ARCHS, ...MOBILENET_ARCHS] as const;
export type Arch = (typeof ARCHS)[number];

export const FAMILIES: readonly Family<Arch>[] = [resnet, densenet, mobilenetV2];

export function isArch(name: unknown): name is Arch {
  return typeof name === 'string' && (ARCHS as readonly string[]).includes(name);
}

export function familyOf(arch: string): Family<Arch> {
  const f = FAMILIES.find((x) => (x.archs as readonly string[]).includes(arch));
  if (!f) throw new Error(`unknown architecture '${arch}' (known: ${ARCHS.join(', ')})`);
  return f;
}

/** Whether `arch` runs in channels_last for this use on `device`: its family's CPU setting (none on CUDA). */
export function channelsLastFor(arch: string, device: string, use: 'train' | 'inference'): boolean {
  const f = familyOf(arch);
  return device === 'cpu' && !!(use === 'train' ? f.trainChannelsLast : f.inferenceChannelsLast);
}

/** The architecture a state dict's names describe (block counts per stage), or null. */
export function archFromStateNames(names: Iterable<string>): Arch | null {
  const list = [...names];
  for (const f of FAMILIES) {
    const a = f.fromStateNames(list);
    if (a) return a;
  }
  return null;
}
