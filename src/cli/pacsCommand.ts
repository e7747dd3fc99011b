// `cxrtune pacs follow`: the PACS link without the web server (screen what arrives in
// Orthanc, store SR + overlay back). `pacs dump-sr` is in pacsDumpSrCommand.ts.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../engine/native.js';
import { loadServedModel } from '../app/serve/servedModel.js';
import { StudyQueue } from '../app/serve/studyQueue.js';
import { AuditLog } from '../app/serve/auditLog.js';
import { SERVE_DEFAULTS } from '../app/serve/serveOptions.js';
import { preprocessOf } from '../app/serve/screen.js';
import { PacsService } from '../app/pacs/pacsService.js';
import { addPacsOptions, pacsOptionsFrom } from './pacsArgs.js';
import { act } from './act.js';
import { deviceOption, lungsOption, maxBatchOption, modelOption, threadsOption } from './options.js';
import { registerPacsDumpSr } from './pacsDumpSrCommand.js';

export function registerPacsCommands(program: Command): void {
  const pacs = program
    .command('pacs')
    .description('PACS link: follow Orthanc, screen new chest radiographs, store DICOM SR + Grad-CAM overlay back');
  addPacsOptions(
    pacs
      .command('follow')
      .description(
        'follow an Orthanc server (no web server): new CR/DX frontal chest instances are screened, ' +
          'results stored back by STOW-RS',
      )
      .addOption(
        modelOption('run folder (uses checkpoints/best, else last) or checkpoint folder', {
          required: true,
          arg: 'dir',
        }),
      ),
    { required: true },
  )
    .option('--db <file>', 'SQLite audit log', SERVE_DEFAULTS.db)
    .addOption(maxBatchOption())
    .addOption(threadsOption())
    .addOption(deviceOption('cpu or cuda:N', 'cpu'))
    .addOption(lungsOption('a lung-cropping model crops each study with it'))
    .action(
      act(async (o) => {
        const options = pacsOptionsFrom(o)!; // a bad --pacs URL fails here, before the model loads
        const served = await loadServedModel(o.model, {
          device: o.device,
          threads: o.threads,
          ...(o.lungs ? { lungs: o.lungs } : {}),
          warn: (line) => process.stderr.write(`${line}\n`),
        });
        const queue = new StudyQueue(
          served.model,
          served.meta,
          preprocessOf(served.meta, undefined, undefined, served.lungs),
          { maxBatch: o.maxBatch },
          served.ood,
        );
        const audit = new AuditLog(o.db);
        const version = (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string })
          .version;
        const service = new PacsService(
          { served, queue, audit, software: version, log: (l) => process.stderr.write(`${l}\n`) },
          options,
        );
        service.start();
        console.log(
          `cxrtune pacs follow: ${served.meta.arch} (sha256 ${served.sha256.slice(0, 12)}) following ` +
            `${service.client!.base}; worklist ${o.worklist}, audit log ${o.db}`,
        );
        const stop = async () => {
          process.stderr.write('cxrtune pacs: stopping\n');
          await service.close();
          audit.close();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }),
    );
  registerPacsDumpSr(pacs);
}
