// `cxrtune lungs …`: the lung-field segmenter; each subcommand lives in its own file.
import type { Command } from 'commander';
import { registerLungsTrain } from './lungsTrainCommand.js';
import { registerLungsEvaluate } from './lungsEvaluateCommand.js';
import { registerLungsPredict } from './lungsPredictCommand.js';
import { registerLungsBench } from './lungsBenchCommand.js';
import { registerLungsSheet } from './lungsSheetCommand.js';

export function registerLungsCommand(program: Command): void {
  const lungs = program
    .command('lungs')
    .description(
      'lung-field segmenter: U-Net on an ImageNet MobileNetV2 (train, evaluate Dice/IoU/HD95 per ' +
        'source, predict masks, bench, contact sheet)',
    );
  registerLungsTrain(lungs);
  registerLungsEvaluate(lungs);
  registerLungsPredict(lungs);
  registerLungsBench(lungs);
  registerLungsSheet(lungs);
}
