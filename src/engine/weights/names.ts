// Name normalisation between checkpoints and torchvision's state_dict names: DataParallel's
// 'module.' prefix, torchvision's legacy DenseNet names, and any other wrapper prefix
// (Lightning's 'model.', CheXNet's 'densenet121.') found by matching against the model.
import type { TensorMap } from '../types.js';

// torchvision densenet._load_state_dict: 'denselayer1.norm.1.weight' → 'denselayer1.norm1.weight'
// (plus num_batches_tracked, which files re-saved by a newer torch carry under the old name too).
const LEGACY_DENSE =
  /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$/;

export function normaliseName(k0: string): string {
  let k = k0;
  while (k.startsWith('module.')) k = k.slice(7);
  const m = LEGACY_DENSE.exec(k);
  return m ? m[1]! + m[2]! : k;
}

/**
 * The prefix every name carries beyond the model's own (e.g. 'model.' or 'densenet121.'),
 * found from the first of the model's names that some key ends with; '' when names match.
 */
export function wrapperPrefix(keys: string[], expected: string[]): string {
  const have = new Set(keys);
  if (expected.some((e) => have.has(e))) return '';
  for (const e of expected) {
    const k = keys.find((x) => x.endsWith(`.${e}`));
    if (!k) continue;
    const prefix = k.slice(0, k.length - e.length);
    return keys.filter((x) => x.startsWith(prefix)).length * 2 > keys.length ? prefix : '';
  }
  return '';
}

export function stripPrefix(t: TensorMap, prefix: string): TensorMap {
  if (!prefix) return t;
  return new Map([...t].map(([k, v]) => [k.startsWith(prefix) ? k.slice(prefix.length) : k, v]));
}
