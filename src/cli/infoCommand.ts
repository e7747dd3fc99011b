// `cxrtune info`: what this installation computes with (libtorch, devices, threads, the CPU
// kernels' instruction set, and the precision the demo picks from it).
import type { Command } from 'commander';
import { deviceInfo, physicalCores, getThreads } from '../engine/runtime.js';
import { act } from './act.js';
import { jsonOption } from './options.js';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description(
      'show the libtorch build, devices, threads, the instruction set the CPU kernels run at ' +
        '(AVX2 / AVX-512 / AVX-512-BF16 / AMX; ONEDNN_MAX_CPU_ISA and ATEN_CPU_CAPABILITY cap it) and the ' +
        'precision the demo picks',
    )
    .addOption(jsonOption())
    .action(
      act((o) => {
        const d = deviceInfo();
        const i = { ...d, physicalCores: physicalCores(), threads: getThreads() };
        if (o.json) return console.log(JSON.stringify(i));
        const { isa, ...rest } = i;
        for (const [k, v] of Object.entries(rest))
          console.log(`${k.padEnd(16)} ${Array.isArray(v) ? v.join(', ') : v}`);
        console.log(`${'isa'.padEnd(16)} ${isa.level} (${isa.from}; ATen kernels ${isa.aten || 'unknown'})`);
        console.log(
          `${'fastBf16'.padEnd(16)} ` +
            `${isa.fastBf16}${isa.fastBf16 ? '' : ' (bf16 runs on reference kernels here: use fp32)'}`,
        );
      }),
    );
}
