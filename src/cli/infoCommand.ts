// `cxrtune info`: what this installation computes with (libtorch, devices, threads, bf16).
import type { Command } from 'commander';
import { deviceInfo, physicalCores, getThreads } from '../engine/runtime.js';

export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('show the libtorch build, devices, threads and whether the CPU has fast bf16')
    .option('--json', 'print JSON')
    .action((o) => {
      const i = { ...deviceInfo(), physicalCores: physicalCores(), threads: getThreads() };
      if (o.json) console.log(JSON.stringify(i));
      else for (const [k, v] of Object.entries(i)) console.log(`${k.padEnd(14)} ${Array.isArray(v) ? v.join(', ') : v}`);
    });
}
