// The state dict inside a torch.save checkpoint: the file's object itself when it is a
// dict of tensors, else the dict of tensors under a training checkpoint's usual keys
// (`state_dict`, `model`, … as CheXNet-style scripts, Lightning and DataParallel save them).
import type { HostTensor, TensorMap } from '../types.js';
import { PyDict, type PyValue } from './pickle.js';
import { TorchArchive, TorchTensorRef } from './torchZip.js';

const NESTED_KEYS = [
  'state_dict',
  'model_state_dict',
  'model',
  'net',
  'network',
  'module',
  'weights',
  'params',
  'ema',
  'state_dict_ema',
];

interface TorchStateDict {
  /** Where the state dict was in the file ('' for the top level, else the key). */
  path: string;
  /** Name → dtype and shape, in the file's order. */
  entries: Map<string, { dtype: HostTensor['dtype']; shape: number[] }>;
  /** Top-level keys of the checkpoint that are not the weights (epoch, optimizer, …). */
  otherKeys: string[];
  tensors?: TensorMap;
}

function isTensorDict(v: PyValue): v is PyDict {
  if (!(v instanceof PyDict) || !v.map.size) return false;
  for (const [k, x] of v.map) if (typeof k !== 'string' || !(x instanceof TorchTensorRef)) return false;
  return true;
}

function findStateDict(root: PyValue, file: string): { path: string; dict: PyDict; otherKeys: string[] } {
  if (isTensorDict(root)) return { path: '', dict: root, otherKeys: [] };
  if (!(root instanceof PyDict)) throw new Error(`${file} holds no state dict (its object is not a dict)`);
  const keys = [...root.map.keys()].map(String);
  for (const k of [...NESTED_KEYS, ...keys]) {
    const v = root.map.get(k);
    if (v !== undefined && isTensorDict(v)) return { path: k, dict: v, otherKeys: keys.filter((x) => x !== k) };
  }
  throw new Error(
    `${file} holds no state dict: its keys are ` +
      `${keys.slice(0, 12).join(', ')}${keys.length > 12 ? ', …' : ''} and none is a dict of tensors`,
  );
}

/** Reads the state dict's names and shapes, and with `data` its tensors. */
export async function readTorchStateDict(file: string, opts: { data?: boolean } = {}): Promise<TorchStateDict> {
  const archive = await TorchArchive.open(file, { whole: opts.data ?? true });
  try {
    const { path, dict, otherKeys } = findStateDict(archive.root, file);
    const entries = new Map<string, { dtype: HostTensor['dtype']; shape: number[] }>();
    for (const [k, t] of dict.map)
      entries.set(k as string, { dtype: (t as TorchTensorRef).hostDtype, shape: [...(t as TorchTensorRef).shape] });
    const out: TorchStateDict = { path, entries, otherKeys };
    if (opts.data ?? true) {
      const tensors: TensorMap = new Map();
      for (const [k, t] of dict.map) tensors.set(k as string, await archive.read(t as TorchTensorRef));
      out.tensors = tensors;
    }
    return out;
  } finally {
    await archive.close();
  }
}
