// `cxrtune ensemble RUN… --out DIR`: several trained models (seeds, snapshots) as one model folder
// that evaluate, explain, audit, calibrate, serve and pacs follow take like a single model.
// DIR/model.json pins each member by path and weights SHA-256 (ensembleModel.ts says how their
// answers are combined), and carries its own threshold, chosen on the validation predictions of
// the averaged model by train's rules (recipe/threshold.ts through trainThreshold.ts), its own
// validation figures and, for lung-cropping members, their shared segmenter.
//
// Choices:
// - Members are pinned, not copied: an ensemble of five ResNets would otherwise hold five copies of
//   weights that already sit in their run folders. The pin keeps the path relative to DIR (valid
//   when the folders move together) and the absolute one; a member whose weights changed is refused.
// - Members must share classes, positive class and preprocessing (one input batch feeds them all),
//   and their training data (manifest and training split: evaluate's patient-overlap check and the
//   protocol of every figure read one training set), and their lung segmenter.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { ENSEMBLE_ARCH, type CheckpointMeta, type EnsembleRecord } from '../../engine/checkpoint.js';
import type { Arch, Precision } from '../../engine/types.js';
import { readManifest } from '../../data/manifest.js';
import { positiveColumn } from '../../recipe/metrics.js';
import { formatThresholdRule, parseThresholdRule, ratesByGroup, THRESHOLD_FORMS } from '../../recipe/threshold.js';
import { bootstrapAuc } from '../../recipe/roc.js';
import { copyCarriedSegmenter } from '../lungs/carriedSegmenter.js';
import { decideProtocol, manifestSplitBy, trainingRowsOf, validationProtocolOf } from '../evaluate/protocol.js';
import { splitRows } from '../evaluate/evaluatedSet.js';
import { sha256File } from '../train/dataSource.js';
import { Learner } from '../train/learner.js';
import { pinOf, resolveModel, type ModelRef } from '../train/modelRef.js';
import { recordedTrainConfig } from '../train/trainConfig.js';
import { trainThresholdChoice } from '../train/trainThreshold.js';
import { ensembleIdentity } from './loadEnsemble.js';
import { membersMismatch } from './ensembleModel.js';

export interface EnsembleOptions {
  /** Run folders (best, else last checkpoint) or checkpoint folders. */
  runs: string[];
  out: string;
  /** Train's threshold forms; default: the rule the members were trained with. */
  threshold?: string | number;
  /** Where the threshold is chosen; default: the members' training manifest and validation split. */
  manifest?: string;
  split?: string;
  /** A lung segmenter for rows without lung_mask, when the members carry none. */
  lungs?: string;
  batch?: number;
  precision?: Precision;
  threads?: number | null;
  onProgress?: (done: number, total: number) => void;
}

export interface EnsembleResult {
  dir: string;
  members: { checkpoint: string; arch: string; weightsSha256: string }[];
  weightsSha256: string;
  threshold: number;
  thresholdRule: string;
  chosenOn: { manifest: string; split: string; n: number };
  validation: { auc: number; sensitivity: number; specificity: number; protocol: string };
}

const same = <T>(xs: T[]) => xs.every((x) => JSON.stringify(x) === JSON.stringify(xs[0]));

/** The members' shared value of a recorded training setting, or null when they differ. */
function shared<T>(refs: ModelRef[], pick: (m: CheckpointMeta) => T): T | null {
  const xs = refs.map((r) => pick(r.meta));
  return same(xs) ? xs[0]! : null;
}

export async function ensemble(o: EnsembleOptions): Promise<EnsembleResult> {
  if (o.runs.length < 2) throw new Error('an ensemble needs at least two models (cxrtune ensemble RUN RUN… --out DIR)');
  const refs: ModelRef[] = [];
  for (const r of o.runs) refs.push(await resolveModel(r));
  const out = resolve(o.out);
  for (const [i, r] of refs.entries()) {
    if (r.meta.arch === ENSEMBLE_ARCH) throw new Error(`${o.runs[i]} is an ensemble itself: give its members instead`);
    if (!r.meta.weightsSha256)
      throw new Error(`${o.runs[i]}: model.json names no weightsSha256, so it cannot be pinned`);
    if (resolve(r.checkpoint) === out) throw new Error(`--out ${o.out} is a member's own folder: give a new folder`);
  }
  const dup = refs.findIndex((r, i) => refs.findIndex((x) => x.meta.weightsSha256 === r.meta.weightsSha256) !== i);
  if (dup >= 0) throw new Error(`${o.runs[dup]} has the same weights as an earlier member: each member once`);
  const bad = membersMismatch(refs.map((r, i) => ({ meta: r.meta, name: o.runs[i]! })));
  if (bad) throw new Error(bad);
  const segmenter = shared(refs, (m) => m.segmenter?.weightsSha256 ?? null);
  if (segmenter === null && refs.some((r) => r.meta.segmenter))
    throw new Error('the members crop with different lung segmenters (model.json segmenter): one ensemble, one crop');
  const data = shared(refs, (m) => ({ sha: m.manifestSha256 ?? null, split: recordedTrainConfig(m).trainSplit }));
  if (!data)
    throw new Error(
      'the members were trained on different data (manifest or training split): an ensemble checks patient ' +
        'overlap and protocols against one training set',
    );
  if (existsSync(out) && (await readdir(out)).length > 0)
    throw new Error(`--out ${o.out} exists and is not empty: give a new folder`);

  const cfgs = refs.map((r) => recordedTrainConfig(r.meta));
  const ruleText = o.threshold ?? shared(refs, (m) => recordedTrainConfig(m).threshold ?? 0.5);
  if (ruleText === null)
    throw new Error(
      'the members were trained with different --threshold rules: give the ensemble one with --threshold',
    );
  const rule = parseThresholdRule(String(ruleText), THRESHOLD_FORMS.ensemble, 'ensemble');
  const manifestFile = o.manifest ?? cfgs[0]!.manifest;
  const split = o.split ?? (o.manifest ? 'valid' : shared(refs, (m) => recordedTrainConfig(m).validSplit ?? 'valid'));
  if (!manifestFile || !existsSync(manifestFile))
    throw new Error(
      `the members' training manifest ${manifestFile ?? '(none recorded)'} is not on this machine: give the ` +
        'validation set to choose the threshold on with --manifest',
    );
  if (split === null) throw new Error('the members validated on different splits: give one with --split');

  const first = refs[0]!.meta;
  const members: EnsembleRecord['members'] = refs.map((r) => ({
    ...pinOf(out, r.checkpoint, r.meta.weightsSha256!),
    arch: r.meta.arch as Arch,
    created: r.meta.created,
  }));
  const weightsSha256 = ensembleIdentity(members.map((m) => m.weightsSha256));
  const base: CheckpointMeta = {
    format: 'cxrtune-checkpoint/1',
    arch: ENSEMBLE_ARCH,
    classes: first.classes,
    positiveClass: first.positiveClass,
    // Members normalise the shared input each with its own mean/std; this record's is the first's.
    preprocessing: first.preprocessing,
    threshold: 0.5,
    training: {
      config: first.training?.config,
      validProtocol: validationProtocolOf(first, readManifest),
      ensembleOf: refs.map((r, i) => ({ seed: cfgs[i]!.seed ?? null, epoch: r.meta.training?.epoch ?? null })),
    },
    ...(first.manifestSha256 ? { manifestSha256: first.manifestSha256 } : {}),
    created: new Date().toISOString(),
    weightsSha256,
    ...(first.segmenter ? { segmenter: first.segmenter } : {}),
    ensemble: { combine: 'mean-probability', members },
  };

  // Built aside and renamed into place: an interrupted command leaves no half ensemble. The
  // temporary folder is DIR's sibling, so the pins' relative paths hold in both.
  const tmp = `${out}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    copyCarriedSegmenter(refs[0]!.checkpoint, first, tmp);
    await writeFileAtomic(join(tmp, 'model.json'), `${JSON.stringify(base, null, 2)}\n`);
    // The averaged model's predictions on the validation split, as a consumer would load it.
    const learner = await Learner.load(tmp, { threads: o.threads ?? null, ...(o.lungs ? { lungs: o.lungs } : {}) });
    const manifest = readManifest(manifestFile);
    const rows = splitRows(manifest, split, manifestFile);
    const pred = await learner.predictSet(manifest, {
      ...(split === '' || split === 'all' ? {} : { split }),
      batch: o.batch ?? 16,
      precision: o.precision ?? 'fp32',
      ...(o.onProgress ? { onBatch: o.onProgress } : {}),
    });
    const pc = first.positiveClass;
    const sha256 = sha256File(manifestFile);
    const protocol =
      o.manifest === undefined
        ? validationProtocolOf(first, readManifest)
        : decideProtocol(rows, trainingRowsOf(first, readManifest), manifestSplitBy(manifestFile), false);
    const sources = [...new Set(rows.map((r) => r.source))].sort();
    const probs = Float64Array.from(pred.probs);
    const sample = { manifest: resolve(manifestFile), sha256, split: split || 'all', protocol, sources };
    const provisional = rule.kind === 'fixed' ? rule.value : 0.5;
    const choice = trainThresholdChoice(
      rule,
      provisional,
      { epoch: 0, probs, labels: pred.labels, numClasses: pred.numClasses },
      0,
      pc,
      sample,
      'ensemble',
    );
    const pos = positiveColumn(pred.probs, pred.numClasses, pc);
    const at = ratesByGroup(
      pos,
      pred.labels,
      Array.from(pred.labels, () => 'all'),
      choice.threshold,
      pc,
    )[0]!;
    const auc = bootstrapAuc(pos, pred.labels, { seed: 0, positiveClass: pc });
    const n = pred.labels.length;
    const correct = Array.from(pred.labels).filter((y, i) => pos[i]! >= choice.threshold === (y === pc)).length;
    const meta: CheckpointMeta = {
      ...base,
      ...choice,
      metrics: {
        n,
        accuracy: correct / n,
        sensitivity: at.sensitivity.value,
        specificity: at.specificity.value,
        auc: auc.value,
      },
    };
    await writeFileAtomic(join(tmp, 'model.json'), `${JSON.stringify(meta, null, 2)}\n`);
    await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
    return {
      dir: out,
      members: refs.map((r) => ({ checkpoint: r.checkpoint, arch: r.meta.arch, weightsSha256: r.meta.weightsSha256! })),
      weightsSha256,
      threshold: choice.threshold,
      thresholdRule: formatThresholdRule(rule),
      chosenOn: { manifest: resolve(manifestFile), split: split || 'all', n },
      validation: {
        auc: auc.value,
        sensitivity: at.sensitivity.value,
        specificity: at.specificity.value,
        protocol: protocol.protocol,
      },
    };
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
