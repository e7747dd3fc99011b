// `cxrtune export RUN --format onnx --out model.onnx`: a trained classifier (run or checkpoint
// folder) or lung segmenter folder as an ONNX file with its model card (app/export).
import type { Command } from 'commander';
import { EXPORT_FORMATS, exportModel, formatExport } from '../app/export/exportModel.js';
import { exportWeb, formatWebExport } from '../app/export/exportWeb.js';
import { act } from './act.js';
import { jsonOption } from './options.js';
import { jsonOut } from './jsonOut.js';

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description(
      'write a trained model (classifier or lung segmenter) as an ONNX file for other runtimes (ONNX Runtime, ' +
        'onnxruntime-web, OpenVINO, TensorRT): BatchNorm folded, dynamic batch, outputs logits and the ' +
        'Grad-CAM layer, the model card in its metadata',
    )
    .argument('<model>', 'run folder (uses checkpoints/best), checkpoint folder, or lung segmenter folder')
    .option(
      '--format <f>',
      `output format: ${[...EXPORT_FORMATS, 'web'].join(', ')} (web: a static folder that screens in the browser)`,
      'onnx',
    )
    .requiredOption('--out <path>', 'file to write (e.g. model.onnx), or the folder for --format web')
    .addOption(jsonOption('print the export record as JSON'))
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  cxrtune export runs/m --format onnx --out runs/m/model.onnx',
        '  cxrtune export models/lungs --format onnx --out lungs.onnx',
        '  cxrtune export runs/m --format web --out site/   # host site/ on any static server (docs/web.md)',
        '',
        "The input is 'pixels', uint8 [batch, H, W, 1|3]: the image as the model's preprocessing record",
        'prepares it (docs/onnx.md); the normalisation is inside the graph.',
      ].join('\n'),
    )
    .action(
      act(async (model: string, o: { format: string; out: string; json?: boolean }) => {
        if (o.format === 'web') {
          const w = await exportWeb({ model, out: o.out });
          process.stdout.write(o.json ? jsonOut(w) : `${formatWebExport(w)}\n`);
          return;
        }
        const r = await exportModel({ model, format: o.format, out: o.out });
        process.stdout.write(o.json ? jsonOut(r) : `${formatExport(r)}\n`);
      }),
    );
}
