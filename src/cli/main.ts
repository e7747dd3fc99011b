// The `cxrtune` command. Each command lives in its own file and registers itself;
// user errors end in one line on stderr and exit code 1 (act.ts; CXRTUNE_DEBUG=1 for a stack).
import { Command } from 'commander';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../engine/native.js';
import { registerBenchCommand } from './benchCommand.js';
import { registerDataCommands } from './dataCommand.js';
import { registerAugmentCommand } from './augmentCommand.js';
import { registerEvaluateCommand } from './evaluateCommand.js';
import { registerExplainCommand } from './explainCommand.js';
import { registerReportCommand } from './reportCommand.js';
import { registerDemoCommand } from './demoCommand.js';
import { registerReproduceCommand } from './reproduceCommand.js';
import { registerInfoCommand } from './infoCommand.js';
import { registerLrFindCommand } from './lrFindCommand.js';
import { registerTrainCommand } from './trainCommand.js';
import { registerCompareCommand } from './compareCommand.js';
import { registerServeCommand } from './serveCommand.js';
import { reportError } from './act.js';
import { registerPacsCommands } from './pacsCommand.js';
import { registerWeightsCommands } from './weightsCommand.js';
import { registerAuditCommand } from './auditCommand.js';
import { registerCalibrateCommand } from './calibrateCommand.js';
import { registerEnsembleCommand } from './ensembleCommand.js';
import { registerLungsCommand } from './lungsCommand.js';
import { registerOodCommand } from './oodCommand.js';
import { registerExportCommand } from './exportCommand.js';
import { registerPretrainCommand } from './pretrainCommand.js';

const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('cxrtune')
    .description(
      'Fine-tune ImageNet CNNs on chest X-rays with discriminative, cyclical, mixed-precision ' +
        'training\n(Adedigba et al. 2021), evaluate them the way clinicians need, and serve them as a ' +
        'screening app.',
    )
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)');
  registerDataCommands(program);
  registerAugmentCommand(program);
  registerLrFindCommand(program);
  registerTrainCommand(program);
  registerPretrainCommand(program);
  registerCompareCommand(program);
  registerEvaluateCommand(program);
  registerExplainCommand(program);
  registerReportCommand(program);
  registerDemoCommand(program);
  registerReproduceCommand(program);
  registerAuditCommand(program);
  registerCalibrateCommand(program);
  registerEnsembleCommand(program);
  registerLungsCommand(program);
  registerOodCommand(program);
  registerExportCommand(program);
  registerBenchCommand(program);
  registerInfoCommand(program);
  registerServeCommand(program);
  registerPacsCommands(program);
  registerWeightsCommands(program);
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    reportError(e); // what an action's act() did not catch: the same one line
  }
}

// Run when this file is the entry (tests spawn it); bin/cxrtune.js calls main() itself, and the
// docs test imports buildProgram() without running anything.
const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) await main();
