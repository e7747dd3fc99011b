// The paper's Table 3 analog: runs side by side — their method (schedule, groups,
// precision), the best validation metric and when it came, the metrics at that epoch,
// wall time, images/s and peak memory. Reads only the run folders.
import { existsSync, readFileSync } from 'node:fs';
import { join, basename } from 'node:path';
import { RUN_FILES } from '../train/runFolder.js';
import { flattenTrainConfig } from '../train/trainConfig.js';
import { readManifest } from '../../data/manifest.js';
import { protocolLabel, validationProtocolOf, type Protocol } from './protocol.js';

interface RunComparison {
  run: string;
  arch: string;
  method: string;
  precision: string;
  monitor: string;
  best: number | null;
  bestEpoch: number | null;
  accuracy: number | null;
  sensitivity: number | null;
  specificity: number | null;
  auc: number | null;
  epochs: number;
  seconds: number;
  imagesPerSecond: number;
  peakRssMiB: number;
  status: string;
  /** What the validation figures are: INTERNAL unless the run's manifest held sources out. */
  protocol: Protocol;
}

interface HistoryRecord {
  epoch: number;
  valid: { accuracy: number | null; sensitivity: number | null; specificity: number | null; auc: number | null };
  bestEpoch: number;
}

function readJson<T>(file: string): T {
  if (!existsSync(file)) throw new Error(`not a finished cxrtune run: ${file} is missing`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
}

export function compareRun(runDir: string): RunComparison {
  // By flag name, whichever form config.json has (runs before the nesting wrote it flat).
  const cfg: Record<string, unknown> = flattenTrainConfig(readJson<object>(join(runDir, RUN_FILES.config)));
  const sum = readJson<{
    status: string;
    monitor: string;
    best: { value: number | null; epoch: number };
    epochsDone: number;
    seconds: number;
    imagesPerSecond: number;
    peakRssMiB: number;
  }>(join(runDir, RUN_FILES.summary));
  const hist = existsSync(join(runDir, RUN_FILES.historyJson))
    ? readJson<HistoryRecord[]>(join(runDir, RUN_FILES.historyJson))
    : [];
  const last = hist.at(-1);
  const at = last ? hist.find((h) => h.epoch === last.bestEpoch) : undefined;
  const dft = cfg.discriminative !== false && cfg.schedule !== 'constant';
  const method = dft
    ? `DFT ${cfg.groups} groups, ${cfg.schedule} ${cfg.lrMin}..${cfg.lrMax}, m ${cfg.momMin}..${cfg.momMax}`
    : `constant lr ${cfg.lrMax ?? cfg.lrMin}, m ${cfg.momMax}`;
  return {
    run: basename(runDir),
    arch: String(cfg.arch),
    method: `${method}, ${cfg.optimizer}${cfg.pretrained ? ', pretrained' : ''}`,
    precision: String(cfg.precision),
    monitor: sum.monitor,
    best: sum.best.value,
    bestEpoch: sum.best.epoch,
    accuracy: at?.valid.accuracy ?? null,
    sensitivity: at?.valid.sensitivity ?? null,
    specificity: at?.valid.specificity ?? null,
    auc: at?.valid.auc ?? null,
    epochs: sum.epochsDone,
    seconds: sum.seconds,
    imagesPerSecond: sum.imagesPerSecond,
    peakRssMiB: sum.peakRssMiB,
    status: sum.status,
    protocol: validationProtocolOf({ training: { config: cfg } }, readManifest).protocol,
  };
}

export function compareTable(rows: RunComparison[]): string {
  const pct = (x: number | null) => (x === null ? '–' : `${(100 * x).toFixed(1)}%`);
  const num = (x: number | null, d = 4) => (x === null ? '–' : x.toFixed(d));
  const head = [
    'run',
    'arch',
    'precision',
    'validation',
    'best',
    'epoch',
    'accuracy',
    'sensitivity',
    'specificity',
    'AUC',
    'time',
    'img/s',
    'peak MiB',
    'method',
  ];
  const body = rows.map((r) => [
    r.run,
    r.arch,
    r.precision,
    protocolLabel(r.protocol),
    `${r.monitor} ${num(r.best)}`,
    String(r.bestEpoch ?? '–'),
    pct(r.accuracy),
    pct(r.sensitivity),
    pct(r.specificity),
    num(r.auc, 3),
    `${r.seconds.toFixed(0)} s`,
    r.imagesPerSecond.toFixed(1),
    String(r.peakRssMiB),
    r.method,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n');
}
