// MobileNetV2: features.0 = stem; stages split where the resolution halves
// (features.2, .4, .7, .14): stage1 = 1–3, stage2 = 4–6, stage3 = 7–13,
// stage4 = 14–18; classifier = head.
import { HEAD, type Family } from './family.js';

export const mobilenetV2: Family = {
  stageOf(name) {
    const m = /^features\.(\d+)\./.exec(name);
    if (m) {
      const i = Number(m[1]);
      if (i === 0) return { stage: 'stem', index: 0 };
      const s = i <= 3 ? 1 : i <= 6 ? 2 : i <= 13 ? 3 : 4;
      return { stage: `stage${s}`, index: s };
    }
    return HEAD;
  },
};
