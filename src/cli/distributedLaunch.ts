// `--nproc N` and torchrun's environment for any command that can run data parallel:
// either start N local workers running this same command line (and report their exit code),
// or — when this process is one of several (WORLD_SIZE > 1) — join their c10d group.
import { launchLocal, withoutFlag } from '../app/train/launcher.js';
import { distEnvFrom, ProcessGroup, type Backend } from '../engine/distributed.js';

export type LaunchOrJoin = { launched: true; exitCode: number } | { launched: false; group?: ProcessGroup };

export async function launchOrJoin(o: { nproc?: number; backend?: string }): Promise<LaunchOrJoin> {
  const env = distEnvFrom();
  if (o.nproc !== undefined && o.nproc < 1) throw new Error(`--nproc must be at least 1 (got ${o.nproc})`);
  // --backend is refused at parse time unless it is one this addon has (cli/options.ts: backendOption).
  if (o.nproc !== undefined && o.nproc > 1 && !env) {
    const args = [process.argv[1]!, ...withoutFlag(process.argv.slice(2), '--nproc')];
    const exitCode = await launchLocal({ nproc: o.nproc, args, log: (m) => process.stderr.write(`launcher: ${m}\n`) });
    return { launched: true, exitCode };
  }
  if (!env) return { launched: false };
  const t = Number(process.env.CXRTUNE_DIST_TIMEOUT);
  const group = await ProcessGroup.init({
    ...env,
    backend: (o.backend as Backend | undefined) ?? 'gloo',
    ...(t > 0 ? { timeoutMs: t * 1000 } : {}),
  });
  return { launched: false, group };
}
