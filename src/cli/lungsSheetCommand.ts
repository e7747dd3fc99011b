// `cxrtune lungs sheet`.
import { imageOptions } from '../engine/preprocessing.js';
import type { Command } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { act } from './act.js';
import { intOption, modelOption } from './options.js';
import { loadSegmenter } from '../engine/segmentation/segmenterCheckpoint.js';
import { evaluateSegmenter, type SegEvalRow } from '../app/lungs/evaluateSegmenter.js';
import { lungContactSheet, type SheetCell } from '../app/lungs/lungContactSheet.js';
import { maskAtSize, segmentProbs } from '../app/lungs/segmentImages.js';
import { decodeImage } from '../data/image.js';
import { dice } from '../recipe/segmentationMetrics.js';
import { Rng } from '../util/rng.js';
import { threads, requireModel, readData, limitPerSource, commonLungOptions } from './lungsArgs.js';

export function registerLungsSheet(lungs: Command): void {
  commonLungOptions(
    lungs
      .command('sheet')
      .description(
        'contact sheet of predicted (red) and reference (green) lung outlines: images from every ' +
          'source and the worst by Dice',
      ),
  )
    .addOption(modelOption('segmenter checkpoint', { required: true, arg: 'dir' }))
    .requiredOption('--out <png>', 'output PNG')
    .option('--eval <json>', 'per-image rows from `lungs evaluate --out` (default: evaluate the held-out images now)')
    .addOption(intOption('--per-source <n>', 'random held-out images per source', { def: 4 }))
    .addOption(intOption('--worst <n>', 'worst images by Dice', { def: 5 }))
    .action(
      act(async (o) => {
        threads(o.threads);
        const { model, meta } = await loadSegmenter(requireModel(o.model));
        let rows: SegEvalRow[];
        if (o.eval) rows = (JSON.parse(readFileSync(o.eval, 'utf8')) as { rows: SegEvalRow[] }).rows;
        else
          rows = (
            await evaluateSegmenter(
              model,
              meta,
              limitPerSource(readData(o.data, o), o.limit, o.seed).filter((p) => p.split === 'test'),
            )
          ).rows;
        const worst = [...rows].sort((a, b) => a.dice - b.dice).slice(0, o.worst);
        const picked: { row: SegEvalRow; tag: string }[] = [];
        for (const s of [...new Set(rows.map((r) => r.source))]) {
          for (const row of Rng.derive(o.seed, 'sheet', s)
            .shuffle(rows.filter((r) => r.source === s && !worst.includes(r)))
            .slice(0, o.perSource))
            picked.push({ row, tag: '' });
        }
        for (const row of worst) picked.push({ row, tag: 'WORST ' });
        // One row per source, then the worst: blank cells pad each group to the row's end.
        const cols = Math.max(o.perSource, o.worst);
        const cells: (SheetCell | null)[] = [];
        let group = '';
        for (const { row, tag } of picked) {
          const g = tag ? 'worst' : row.source;
          if (group && g !== group) while (cells.length % cols) cells.push(null);
          group = g;
          const input = await decodeImage(row.image, imageOptions(meta.preprocessing));
          const [prob] = await segmentProbs(model, meta, [input.pixels]);
          const truthImg = await decodeImage(row.mask);
          const truth = truthImg.pixels.map((v) => (v >= 128 ? 1 : 0));
          const pred = await maskAtSize(
            prob!,
            meta.preprocessing.size,
            truthImg.width,
            truthImg.height,
            meta.threshold,
          );
          cells.push({
            image: row.image,
            predicted: pred,
            truth,
            width: truthImg.width,
            height: truthImg.height,
            caption: `${tag}${row.source} Dice ${dice(pred, truth).toFixed(3)}`,
          });
        }
        mkdirSync(dirname(resolve(o.out)), { recursive: true });
        writeFileSync(
          o.out,
          await lungContactSheet(cells, {
            columns: cols,
            cell: 200,
            title: 'Lung outlines: red = predicted, green = reference mask; last row: the worst by Dice',
          }),
        );
        console.log(`${o.out}: ${cells.filter(Boolean).length} images`);
      }),
    );
}
