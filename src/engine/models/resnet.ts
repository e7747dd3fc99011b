// ResNet family: conv1/bn1 = stem, layer1..4 = stage1..4, fc = head.
import { HEAD, type Family } from './family.js';

export const resnet: Family = {
  stageOf(name) {
    const m = /^layer(\d)\./.exec(name);
    if (m) return { stage: `stage${m[1]}`, index: Number(m[1]) };
    if (name.startsWith('fc')) return HEAD;
    return { stage: 'stem', index: 0 };
  },
};
