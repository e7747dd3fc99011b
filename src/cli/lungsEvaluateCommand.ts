// `cxrtune lungs evaluate`.
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadSegmenter } from '../engine/segmentation/segmenterCheckpoint.js';
import { evaluateSegmenter } from '../app/lungs/evaluateSegmenter.js';
import { act } from './act.js';
import { jsonOption, modelOption, precisionOption, splitOption } from './options.js';
import { threads, requireModel, readData, limitPerSource, printSummary, commonLungOptions } from './lungsArgs.js';

export function registerLungsEvaluate(lungs: Command): void {
  commonLungOptions(
    lungs
      .command('evaluate')
      .description(
        'Dice, IoU and HD95 per source on the held-out patients (or every image), with 95% bootstrap intervals',
      ),
  )
    .addOption(modelOption('segmenter checkpoint', { required: true, arg: 'dir' }))
    .addOption(splitOption('test (held-out patients), train or all').default('test'))
    .addOption(precisionOption('fp32 or bf16', 'fp32'))
    .option('--out <file>', 'write per-image rows and the summary as JSON')
    .addOption(jsonOption('print the summary as JSON'))
    .action(
      act(async (o) => {
        threads(o.threads);
        const { model, meta } = await loadSegmenter(requireModel(o.model));
        if (!['test', 'train', 'all'].includes(o.split))
          throw new Error(`--split must be test, train or all (got '${o.split}')`);
        const pairs = limitPerSource(readData(o.data, o), o.limit, o.seed).filter(
          (p) => o.split === 'all' || p.split === o.split,
        );
        const ev = await evaluateSegmenter(model, meta, pairs, {
          precision: o.precision,
          log: (m) => console.error(m),
        });
        if (o.out) {
          mkdirSync(dirname(resolve(o.out)), { recursive: true });
          writeFileSync(
            o.out,
            JSON.stringify({ model: resolve(o.model), split: o.split, sources: ev.sources, rows: ev.rows }, null, 1),
          );
        }
        if (o.json) console.log(JSON.stringify(ev.sources));
        else printSummary(ev.sources);
      }),
    );
}
