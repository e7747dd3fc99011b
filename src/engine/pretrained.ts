// Loads ImageNet (or any) weights into a model: safetensors (cxrtune's, timm's), torch.save
// checkpoints read without unpickling code, a folder or a hub id in the local Hugging Face
// cache (engine/weights/weightsFile.ts), checking names and shapes strictly. Only the
// classifier may differ (a head of another size or name, or none in the file, is left freshly
// initialised, with a message); anything else is an error listing it.
import { readWeights } from './weights/weightsFile.js';
import { stripPrefix, wrapperPrefix } from './weights/names.js';
import type { Model } from './model.js';
import type { TensorMap } from './types.js';

interface PretrainedReport {
  file: string;
  loaded: number;
  /** Head parameters left at their fresh initialisation (size differs). */
  reinitialised: string[];
  metadata: Record<string, string>;
}

export async function loadPretrained(
  model: Model,
  source: string,
  log: (msg: string) => void = (m) => console.error(m),
): Promise<PretrainedReport> {
  const w = await readWeights(source);
  const { file, metadata } = w;
  const entries = model.parameters();
  const prefix = wrapperPrefix(
    [...w.tensors.keys()],
    entries.map((e) => e.name),
  );
  const tensors = stripPrefix(w.tensors, prefix);
  for (const n of [...w.notes, ...(prefix ? [`wrapper prefix '${prefix}' removed`] : [])]) log(`pretrained: ${n}`);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const headLayers = model.layers().filter((l) => l.stage === 'head');
  const headParams = new Set(headLayers.flatMap((l) => l.params.map((i) => entries[i]!.name)));
  // A head under another name (CheXNet's classifier.0 in a Sequential with a Sigmoid) is the
  // part that gets replaced anyway: it is left fresh like a head of another size.
  const headRoots = new Set(headLayers.map((l) => l.name.split('.')[0]!));
  const otherHead = [...tensors.keys()].filter((k) => !byName.has(k) && headRoots.has(k.split('.')[0]!));
  const unexpected = [...tensors.keys()].filter((k) => !byName.has(k) && !otherHead.includes(k));
  const wrongShape: string[] = [];
  const reinitialised: string[] = [];
  const use: TensorMap = new Map();
  for (const [k, t] of tensors) {
    const e = byName.get(k);
    if (!e) continue;
    if (e.shape.length === t.shape.length && e.shape.every((d, i) => d === t.shape[i])) use.set(k, t);
    else if (headParams.has(k)) reinitialised.push(k);
    else wrongShape.push(`${k} [${t.shape}] vs [${e.shape}]`);
  }
  // Old torchvision checkpoints predate BatchNorm's num_batches_tracked counter.
  const missing = entries
    .filter(
      (e) =>
        !tensors.has(e.name) &&
        !e.name.endsWith('num_batches_tracked') &&
        !(otherHead.length && headParams.has(e.name)),
    )
    .map((e) => e.name);
  // A backbone without its classifier (`cxrtune pretrain` writes one): the head stays fresh.
  const headless =
    missing.length > 0 &&
    missing.every((n) => headParams.has(n)) &&
    ![...tensors.keys()].some((k) => headParams.has(k));
  if (headless) missing.length = 0;
  if (otherHead.length || headless)
    reinitialised.push(...entries.filter((e) => headParams.has(e.name) && !tensors.has(e.name)).map((e) => e.name));
  const problems = [
    missing.length ? `missing ${missing.length}: ${preview(missing)}` : '',
    unexpected.length ? `unexpected ${unexpected.length}: ${preview(unexpected)}` : '',
    wrongShape.length ? `wrong shape: ${preview(wrongShape)}` : '',
  ].filter(Boolean);
  if (problems.length) {
    throw new Error(`${file} does not fit ${model.spec.arch} (torchvision naming expected): ${problems.join('; ')}`);
  }
  await model.loadState(use, { strict: false });
  if (reinitialised.length) {
    const t = tensors.get(reinitialised[0]!);
    log(
      `pretrained: head ${reinitialised.join(', ')} re-initialised ` +
        `(${
          t
            ? `${t.shape[0]} → ${model.spec.numClasses} classes`
            : headless
              ? 'the file holds no classifier'
              : `the file's head is ${otherHead.join(', ')}`
        })`,
    );
  }
  return { file, loaded: use.size, reinitialised, metadata };
}

function preview(xs: string[]): string {
  return xs.length > 6 ? `${xs.slice(0, 6).join(', ')} …` : xs.join(', ');
}
