import type { Arch } from '../types.js';
import type { Family } from './family.js';
import { resnet } from './resnet.js';
import { densenet } from './densenet.js';
import { mobilenetV2 } from './mobilenetV2.js';

export function familyOf(arch: Arch): Family {
  if (arch.startsWith('resnet')) return resnet;
  if (arch.startsWith('densenet')) return densenet;
  return mobilenetV2;
}
export { IMAGENET } from './family.js';
