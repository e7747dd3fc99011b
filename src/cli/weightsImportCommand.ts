// `cxrtune weights import FILE|HUB_ID`: convert to cxrtune's safetensors + model.json.
import type { Command } from 'commander';
import type { Arch } from '../engine/types.js';
import { importWeights } from '../app/weights/importWeights.js';
import { act } from './act.js';
import { archOption, jsonOption } from './options.js';

export function registerWeightsImport(weights: Command): void {
  weights
    .command('import')
    .description(
      'convert weights (a PyTorch .pth/.pt/.bin read without running its pickle, a timm/Hugging Face ' +
        'snapshot or hub id in the local cache, safetensors) to model.safetensors + model.json in ' +
        "torchvision's names, checked against the architecture",
    )
    .argument('<source>', 'file, folder, or ORG/NAME in the local Hugging Face cache')
    .addOption(archOption('architecture (default: recognised from the names)'))
    .option('--out <dir>', 'output folder (default: $CXRTUNE_CACHE/weights/<name>, listed by weights list)')
    .addOption(jsonOption('print the result as JSON'))
    .addHelpText(
      'after',
      '\nExamples:\n  cxrtune weights import ' +
        '~/.cache/torch/hub/checkpoints/densenet169-b2777c0a.pth\n  cxrtune weights import ' +
        'chexnet.pth.tar --arch densenet121 --out weights/chexnet\n  cxrtune weights import ' +
        'timm/resnet152.tv_in1k',
    )
    .action(
      act(async (source: string, o: { arch?: Arch; out?: string; json?: boolean }) => {
        const r = await importWeights({
          source,
          ...(o.arch ? { arch: o.arch } : {}),
          ...(o.out ? { out: o.out } : {}),
          log: (m) => process.stderr.write(`${m}\n`),
        });
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else {
          const d = r.descriptor;
          process.stdout.write(
            `${r.out}: ${d.arch}, ${d.numClasses} classes, ${r.tensors} tensors, input ` +
              `${d.inputSize} px, mean ${JSON.stringify(d.normalisation.mean)} std ` +
              `${JSON.stringify(d.normalisation.std)}\n` +
              `  from ${d.sourceFile} (${(r.sourceBytes / 1e6).toFixed(1)} MB, sha256 ` +
              `${d.sourceSha256.slice(0, 16)}…) in ${r.seconds.toFixed(1)} s\n` +
              `  use it: cxrtune train --pretrained ${r.out} …\n`,
          );
        }
      }),
    );
}
