// `cxrtune weights list|import|pull`: the weights users already have (one file per command).
import type { Command } from 'commander';
import { registerWeightsList } from './weightsListCommand.js';
import { registerWeightsImport } from './weightsImportCommand.js';
import { registerWeightsPull } from './weightsPullCommand.js';

export function registerWeightsCommands(program: Command): void {
  const w = program
    .command('weights')
    .description(
      'pretrained weights: list what is on this machine (torch hub, Hugging Face cache, cxrtune), ' +
        'import a .pth / timm / safetensors file safely, pull from the Hugging Face Hub',
    );
  registerWeightsList(w);
  registerWeightsImport(w);
  registerWeightsPull(w);
}
