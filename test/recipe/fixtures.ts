// A small ResNet-shaped layer list (names as torchvision's), for group and transfer tests.
import type { LayerInfo, ParamInfo } from '../../src/engine/types.js';

/** stem: conv1, bn1; stage1..4: one conv + bn each; head: fc. Params: conv 1 (weight), bn 2, fc 2. */
export function resnetLike(): { layers: LayerInfo[]; params: ParamInfo[] } {
  const params: ParamInfo[] = [];
  const buffers: ParamInfo[] = [];
  const layers: LayerInfo[] = [];
  const add = (name: string, stage: string, stageIndex: number, kind: LayerInfo['kind']) => {
    const idx: number[] = [];
    const names = kind === 'conv' ? ['weight'] : ['weight', 'bias'];
    for (const n of names) {
      idx.push(params.length);
      params.push({ name: `${name}.${n}`, shape: [1], kind: 'param', trainable: true });
    }
    if (kind === 'bn') {
      for (const n of ['running_mean', 'running_var'])
        buffers.push({ name: `${name}.${n}`, shape: [1], kind: 'buffer', trainable: false });
    }
    layers.push({ name, stage, stageIndex, params: idx, kind });
  };
  add('conv1', 'stem', 0, 'conv');
  add('bn1', 'stem', 0, 'bn');
  for (let s = 1; s <= 4; s++) {
    add(`layer${s}.0.conv1`, `stage${s}`, s, 'conv');
    add(`layer${s}.0.bn1`, `stage${s}`, s, 'bn');
  }
  add('fc', 'head', 5, 'linear');
  return { layers, params: [...params, ...buffers] };
}
