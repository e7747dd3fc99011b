// `--nproc N` on one machine: what torchrun's local agent does, minus elasticity. Starts N
// copies of this command with RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE /
// MASTER_ADDR / MASTER_PORT set (the workers join one c10d group through rank 0's TCPStore),
// forwards Ctrl-C, and when a worker dies, gives the others `graceMs` to stop on their own
// (their collectives fail naming the rank) before it ends them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

interface LaunchOptions {
  nproc: number;
  /** The command line each worker runs (this CLI without --nproc). */
  args: string[];
  masterPort?: number;
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
  graceMs?: number;
  /** Node flags for the workers (default: this process's, e.g. tsx's --import). */
  execArgv?: string[];
}

/** A TCP port free on the loopback interface right now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Removes `--nproc N` / `--nproc=N` from a command line. */
export function withoutFlag(argv: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag) i++;
    else if (!argv[i]!.startsWith(`${flag}=`)) out.push(argv[i]!);
  }
  return out;
}

/** Runs the workers; resolves with the exit code the launcher should end with. */
export async function launchLocal(o: LaunchOptions): Promise<number> {
  if (!Number.isInteger(o.nproc) || o.nproc < 2) throw new Error(`--nproc must be an integer >= 2 (got ${o.nproc})`);
  const log = o.log ?? (() => undefined);
  const port = o.masterPort ?? (await freePort());
  const grace = o.graceMs ?? 60_000;
  const children: ChildProcess[] = [];
  const exits: (string | null)[] = new Array(o.nproc).fill(null);
  let firstFailure: string | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  // Ctrl-C reaches the workers from the terminal (same process group): the launcher only
  // waits for them; SIGTERM (a scheduler's) is passed on.
  const onInt = () => undefined;
  const onTerm = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const done = Array.from(
      { length: o.nproc },
      (_, rank) =>
        new Promise<number>((resolve) => {
          const c = spawn(process.execPath, [...(o.execArgv ?? process.execArgv), ...o.args], {
            stdio: 'inherit',
            env: {
              ...process.env,
              ...o.env,
              RANK: String(rank),
              LOCAL_RANK: String(rank),
              WORLD_SIZE: String(o.nproc),
              LOCAL_WORLD_SIZE: String(o.nproc),
              MASTER_ADDR: '127.0.0.1',
              MASTER_PORT: String(port),
            },
          });
          children[rank] = c;
          c.on('exit', (code, signal) => {
            const ok = code === 0;
            exits[rank] = signal ? `killed by ${signal}` : `exited with code ${code}`;
            if (!ok && !firstFailure) {
              firstFailure = `worker rank ${rank} (pid ${c.pid}) ${exits[rank]}`;
              log(`${firstFailure}; the other workers get ${grace / 1000} s to stop`);
              killTimer = setTimeout(() => {
                for (const [r, other] of children.entries()) {
                  if (other.exitCode === null && other.signalCode === null) {
                    log(`worker rank ${r} still running ${grace / 1000} s after rank ${rank} failed: ending it`);
                    other.kill('SIGKILL');
                  }
                }
              }, grace);
            } else if (firstFailure) {
              // How each other worker ended: on its own, or ended by the launcher after the grace.
              log(`worker rank ${rank} (pid ${c.pid}) ${exits[rank]}`);
            }
            resolve(signal ? 128 + 9 : (code ?? 1));
          });
        }),
    );
    const codes = await Promise.all(done);
    if (firstFailure) log(`distributed run failed: ${firstFailure}`);
    return codes.every((c) => c === 0) ? 0 : (codes.find((c) => c === 130) ?? 1);
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
