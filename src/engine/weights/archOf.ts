// Recognises a torchvision architecture from state-dict names and shapes (block counts per
// stage), or failing that from a file name such as torchvision's 'resnet152-394f9c45.pth'.
import { ARCHS, type Arch } from '../types.js';

const RESNETS: Record<string, Arch> = { 'basic:2,2,2,2': 'resnet18', 'basic:3,4,6,3': 'resnet34', 'bottleneck:3,4,6,3': 'resnet50', 'bottleneck:3,4,23,3': 'resnet101', 'bottleneck:3,8,36,3': 'resnet152' };
const DENSENETS: Record<string, Arch> = { '6,12,24,16': 'densenet121', '6,12,36,24': 'densenet161', '6,12,32,32': 'densenet169', '6,12,48,32': 'densenet201' };

export function archFromNames(names: Iterable<string>): Arch | null {
  const blocks = new Map<string, Set<string>>();
  let bottleneck = false;
  let mobilenet = false;
  const add = (stage: string, id: string) => {
    if (!blocks.has(stage)) blocks.set(stage, new Set());
    blocks.get(stage)!.add(id);
  };
  for (const n of names) {
    let m = /(?:^|\.)layer([1-4])\.(\d+)\.(conv\d)\./.exec(n);
    if (m) { add(`r${m[1]}`, m[2]!); if (m[3] === 'conv3') bottleneck = true; continue; }
    m = /(?:^|\.)denseblock([1-4])\.denselayer(\d+)\./.exec(n);
    if (m) { add(`d${m[1]}`, m[2]!); continue; }
    if (/(?:^|\.)features\.18\.0\.weight$/.test(n)) mobilenet = true;
  }
  const counts = (p: string) => [1, 2, 3, 4].map((i) => blocks.get(`${p}${i}`)?.size ?? 0).join(',');
  if (blocks.has('r1')) return RESNETS[`${bottleneck ? 'bottleneck' : 'basic'}:${counts('r')}`] ?? null;
  if (blocks.has('d1')) return DENSENETS[counts('d')] ?? null;
  return mobilenet ? 'mobilenet_v2' : null;
}

export function archFromFileName(path: string): Arch | null {
  const base = path.toLowerCase();
  const found = [...ARCHS].sort((a, b) => b.length - a.length).find((a) => new RegExp(`(^|[^a-z0-9])${a}([^0-9]|$)`).test(base) || base.includes(a.replace('_', '')));
  return found ?? null;
}
