// DenseNet family: conv0/norm0 = stem; denseblockN and the transitionN after it
// form stage N (norm5 closes stage 4); classifier = head.
import { HEAD, type Family } from './family.js';

export const densenet: Family = {
  stageOf(name) {
    const m = /^features\.(denseblock|transition)(\d)\./.exec(name);
    if (m) return { stage: `${m[1]}${m[2]}`, index: Number(m[2]) };
    if (name.startsWith('features.norm5')) return { stage: 'denseblock4', index: 4 };
    if (name.startsWith('classifier')) return HEAD;
    return { stage: 'stem', index: 0 };
  },
};
