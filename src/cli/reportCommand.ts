// `cxrtune report RUN`: one self-contained, offline HTML report.
import type { Command } from 'commander';
import { buildReport } from '../app/report/report.js';
import { jsonOut as json } from './jsonOut.js';
import { act } from './act.js';
import { jsonOption } from './options.js';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description(
      'one self-contained HTML report (opens offline): configuration, data, LR finder, schedules, ' +
        'training curves, Tables 2–5 with intervals, confusion matrix, ROC, reliability, top losses, ' +
        'Grad-CAM, limitations',
    )
    .argument('<run>', 'run folder (from cxrtune train)')
    .option('--eval <dirs...>', 'evaluation folders (from cxrtune evaluate); explain outputs inside them are used too')
    .option('--explain <dirs...>', 'folders with explain outputs (top_losses.*, gradcam_*)')
    .option('--lr-find <file>', 'lr_find.json (default RUN/lr_find.json)')
    .option('--title <text>', 'report title')
    .option('--out <file>', 'output HTML file (default RUN/report.html)')
    .addOption(jsonOption('print {file, bytes, sections} as JSON'))
    .addHelpText(
      'after',
      '\nExample:\n  cxrtune report runs/r18 --eval runs/r18/eval-valid runs/r18/eval-external --out ' +
        'runs/r18/report.html',
    )
    .action(
      act(async (run: string, o: ReportFlags) => {
        const r = await buildReport({
          run,
          evals: o.eval,
          explain: o.explain,
          lrFind: o.lrFind,
          title: o.title,
          out: o.out ?? `${run}/report.html`,
        });
        if (o.json) process.stdout.write(json(r));
        else
          process.stdout.write(
            `wrote ${r.file} (${(r.bytes / 1024).toFixed(0)} KiB; sections: ${r.sections.join(', ')})\n`,
          );
      }),
    );
}

interface ReportFlags {
  eval?: string[];
  explain?: string[];
  lrFind?: string;
  title?: string;
  out?: string;
  json?: boolean;
}
