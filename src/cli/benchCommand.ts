// `cxrtune bench`: engine throughput (train and predict images/s), optionally vs Python torch.
import { type Command, Option } from 'commander';
import { ARCHS, type Arch, type Precision } from '../engine/types.js';
import { benchOne } from '../bench/bench.js';
import type { BenchResult } from '../bench/benchRecord.js';
import { MAX_RATIO_SPREAD } from '../bench/benchRounds.js';
import { formatOpTable } from '../bench/opProfile.js';
import { physicalCores } from '../engine/runtime.js';
import { act } from './act.js';
import {
  batchOption,
  deviceOption,
  intOption,
  jsonOption,
  listArg,
  modelOption,
  PRECISIONS,
  sizeOption,
  threadsOption,
} from './options.js';
import { runServeBench } from '../bench/serveBench.js';
import { existsSync, statSync } from 'node:fs';
import { benchData, folderManifest } from '../bench/dataBench.js';
import { benchVsOnnxRuntime, formatOrtTable, type OrtBenchResult } from '../bench/onnxRuntimeBench.js';

async function benchOrtCommand(
  archs: Arch[],
  o: { size: number; batch: number; threads?: number; steps: number; warmup: number; rounds?: number; json?: boolean },
): Promise<void> {
  const rs: OrtBenchResult[] = [];
  for (const arch of archs) {
    if (!o.json) process.stderr.write(`bench ${arch} ${o.size}px batch ${o.batch} fp32 vs onnxruntime…\n`);
    const r = await benchVsOnnxRuntime({
      arch,
      size: o.size,
      batch: o.batch,
      ...(o.threads ? { threads: o.threads } : {}),
      steps: o.steps,
      warmup: o.warmup,
      rounds: o.rounds ?? 5,
    });
    rs.push(r);
    if (o.json) console.log(JSON.stringify(r));
  }
  if (!o.json) console.log(formatOrtTable(rs, MAX_RATIO_SPREAD));
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure training and inference images/s of the engine (optionally against Python torch/torchvision)')
    .addOption(new Option('--arch <list>', `architectures, comma-separated (${ARCHS.join(', ')})`).default('resnet18'))
    .addOption(sizeOption('input side in pixels', 224))
    .addOption(batchOption('batch size', 16))
    .option('--precision <list>', 'precisions, comma-separated: fp32, bf16 (CPU/CUDA), fp16 (CUDA)', 'fp32,bf16')
    .addOption(threadsOption())
    .addOption(intOption('--steps <n>', 'timed steps per configuration', { min: 1, def: 5 }))
    .addOption(intOption('--warmup <n>', 'untimed warm-up steps', { def: 2 }))
    .option('--channels-last', 'use channels_last memory format')
    .addOption(deviceOption('cpu or cuda:N', 'cpu'))
    .option(
      '--vs-python',
      "run the same step in Debian's Python torch, alternating in rounds; print median ratios and their spread",
    )
    .option(
      '--vs-onnxruntime',
      'instead: predict (--batch) and batch-1 latency against ONNX Runtime (CPU, same threads) on the exported ' +
        'model, fp32, alternating in rounds; median ratios and their spread',
    )
    .addOption(
      intOption(
        '--rounds <n>',
        'interleaved rounds per configuration (default 5 with --vs-python or --vs-onnxruntime, else 1)',
        {
          min: 1,
        },
      ),
    )
    .option(
      '--data <dir|manifest>',
      'instead: decoded-and-resized images/s of the data loader at --size (cold and cached), e.g. ../shared/data/nih',
    )
    .option(
      '--profile',
      "also profile --steps train and predict steps op by op with libtorch's profiler (beside " +
        "Python's torch.profiler with --vs-python)",
    )
    .addOption(jsonOption('print one JSON object per configuration'))
    .option(
      '--serve',
      'benchmark the screening server instead: one-study latency per --arch (default ' +
        'resnet18,mobilenet_v2), then a load test',
    )
    .addOption(modelOption('--serve: model to load-test (default: an untrained-head mobilenet_v2)', { arg: 'dir' }))
    .option('--url <url>', '--serve: load-test a running server instead (token: env CXRTUNE_TOKEN)')
    .addOption(intOption('--clients <n>', '--serve: concurrent clients', { min: 1, def: 20 }))
    .addOption(intOption('--duration <s>', '--serve: load-test seconds (0 = skip)', { def: 60 }))
    .addOption(intOption('--study-runs <n>', '--serve: timed one-study runs per arch (0 = skip)', { def: 20 }))
    .addOption(
      intOption(
        '--hostile <n>',
        '--serve: also N clients sending hostile inputs (decoder bombs, header-lie DICOM, truncations, no token); ' +
          'the server gets a token',
        { def: 0 },
      ),
    )
    .action(
      act(async (o, cmd: Command) => {
        if (o.serve) {
          const archs =
            cmd.getOptionValueSource('arch') === 'default'
              ? (['resnet18', 'mobilenet_v2'] as Arch[])
              : (listArg(o.arch, ARCHS, 'architecture') as Arch[]);
          return runServeBench({
            archs,
            size: o.size,
            threads: o.threads,
            model: o.model,
            url: o.url,
            token: process.env.CXRTUNE_TOKEN,
            clients: o.clients,
            duration: o.duration,
            studyRuns: o.studyRuns,
            hostile: o.hostile,
            json: !!o.json,
          });
        }
        if (o.data) return benchDataCommand(o.data, o.size, o.batch, !!o.json);
        const archs = listArg(o.arch, ARCHS, 'architecture') as Arch[];
        if (o.vsOnnxruntime) return benchOrtCommand(archs, o);
        const precs = listArg(o.precision, PRECISIONS, 'precision') as Precision[];
        const threads = o.threads ?? physicalCores();
        const results: BenchResult[] = [];
        for (const arch of archs) {
          for (const precision of precs) {
            if (!o.json)
              process.stderr.write(`bench ${arch} ${o.size}px batch ${o.batch} ${precision} ${threads} threads…\n`);
            const r = await benchOne({
              arch,
              size: o.size,
              batch: o.batch,
              precision,
              threads,
              steps: o.steps,
              warmup: o.warmup,
              channelsLast: !!o.channelsLast,
              vsPython: !!o.vsPython,
              device: o.device,
              profile: !!o.profile,
              ...(o.rounds ? { rounds: o.rounds } : {}),
            });
            results.push(r);
            if (o.json) console.log(JSON.stringify(r));
            else if (r.profile) printProfile(r);
          }
        }
        if (!o.json) printTable(results);
      }),
    );
}

function printTable(rs: BenchResult[]): void {
  const f = (x: number | undefined, d = 1) => (x === undefined ? '' : x.toFixed(d));
  // A ratio is printed with its per-round range; one whose rounds disagree too much is not printed.
  const ratio = (x: number | undefined, spread: [number, number] | undefined, ok: boolean | undefined) =>
    x === undefined
      ? ''
      : ok
        ? `${x.toFixed(2)} (${spread![0].toFixed(2)}–${spread![1].toFixed(2)})`
        : `noise (${spread![0].toFixed(2)}–${spread![1].toFixed(2)})`;
  const rows = rs.map((r) => [
    r.arch,
    String(r.size),
    String(r.batch),
    r.precision,
    f(r.train_img_s),
    f(r.python_train_img_s),
    ratio(r.ratio, r.ratio_spread, r.conclusive?.train),
    f(r.predict_img_s),
    f(r.python_predict_img_s),
    ratio(r.predict_ratio, r.predict_ratio_spread, r.conclusive?.predict),
    f(r.latency_ms),
    f(r.python_latency_ms),
    ratio(r.latency_ratio, r.latency_ratio_spread, r.conclusive?.latency),
    f(r.gflop_per_img, 2),
    f(r.train_peak_pct),
    f(r.predict_peak_pct),
  ]);
  const head = [
    'arch',
    'size',
    'batch',
    'precision',
    'train img/s',
    'python',
    'ratio (range)',
    'predict img/s',
    'python',
    'ratio (range)',
    'batch-1 ms',
    'python',
    'ratio (range)',
    'GFLOP/img',
    'train % peak',
    'predict % peak',
  ];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padStart(w[i]!)).join('  '));
  const r0 = rs[0];
  if (r0?.isa)
    console.log(
      `CPU kernels at ${r0.isa} (oneDNN; ATen ${r0.isa_aten || 'unknown'}): ONEDNN_MAX_CPU_ISA and ` +
        `ATEN_CPU_CAPABILITY cap them`,
    );
  if (r0?.rounds && r0.rounds > 1) {
    console.log(
      `medians of ${r0.rounds} interleaved rounds; ratios > 1: cxrtune faster (latency: Python's ms ÷ ours); ` +
        `'noise': rounds disagree by more than ${MAX_RATIO_SPREAD}×; load average ` +
        `${rs.map((r) => r.load?.map((l) => l.toFixed(1)).join('→')).join(', ')}`,
    );
  }
  const fmt = (key: 'train_channels_last' | 'predict_channels_last') => [
    ...new Set(rs.filter((r) => r[key] && !r.channels_last).map((r) => r.arch)),
  ];
  const [ct, cp] = [fmt('train_channels_last'), fmt('predict_channels_last')];
  if (ct.length)
    console.log(
      `training of ${ct.join(', ')}: channels_last, as cxrtune trains them on CPU (Python: its default NCHW)`,
    );
  if (cp.length)
    console.log(
      `predict and batch-1 of ${cp.join(', ')}: channels_last, as cxrtune loads them for CPU ` +
        `inference (Python: its default NCHW)`,
    );
  for (const r of rs) if (r.python_error) console.log(`${r.arch} ${r.precision}: no Python figure — ${r.python_error}`);
  for (const basis of new Set(
    rs
      .map((r) => r.peak_basis && `${r.precision}: peak ${r.peak_gflops!.toFixed(0)} GFLOP/s = ${r.peak_basis}`)
      .filter(Boolean),
  ))
    console.log(basis);
  if (rs.some((r) => r.gflop_per_img))
    console.log("GFLOP/img: forward FLOPs counted by libtorch's profiler; training counts 3× the forward");
  for (const p of ['bf16']) {
    for (const arch of new Set(rs.map((r) => r.arch))) {
      const a = rs.find((r) => r.arch === arch && r.precision === 'fp32');
      const b = rs.find((r) => r.arch === arch && r.precision === p);
      if (a && b) console.log(`${arch}: ${p} trains ${(b.train_img_s / a.train_img_s).toFixed(2)}x fp32`);
    }
  }
}

function printProfile(r: BenchResult): void {
  const p = r.profile!;
  for (const kind of ['train', 'predict'] as const) {
    const title =
      `${r.arch} ${r.size}px batch ${r.batch} ${r.precision} ${kind}: self time per step, mean of ` +
      `${p.steps} profiled steps`;
    console.log(formatOpTable(title, p[kind].ours, p.steps, p[kind].python));
    console.log('');
  }
}

async function benchDataCommand(source: string, size: number, batch: number, json: boolean): Promise<void> {
  if (!existsSync(source)) throw new Error(`--data: ${source} does not exist`);
  const m = statSync(source).isDirectory() ? folderManifest(source) : source;
  const r = await benchData(m, { size, batch });
  if (json) console.log(JSON.stringify(r));
  else
    console.log(
      `data ${r.images} images at ${size}px: cold ${r.coldImagesPerSec} img/s, cached ` +
        `${r.cachedImagesPerSec} img/s, cached + augment ${r.augmentedCachedImagesPerSec} img/s`,
    );
}
