// The Python torch side of `bench --vs-python`, kept alive for interleaved rounds: one
// process per configuration (scripts/bench_torch.py in `serve` mode) that loads the same
// weights and batch once, then times `train|predict|latency WARMUP STEPS` on request. A
// fresh process per measurement would put its start-up, and the machine's mood at that
// moment, into one side only. `profile-train|profile-predict` returns torch.profiler's events.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { projectRoot } from '../engine/native.js';
import type { Arch, Precision } from '../engine/types.js';
import type { OpEvents } from '../engine/native.js';

export type TimedKind = 'train' | 'predict' | 'latency';

interface ReferenceConfig {
  arch: Arch;
  size: number;
  batch: number;
  precision: Precision;
  threads: number;
  channelsLast?: boolean;
  device?: string;
  /** safetensors with the initial weights and cxrtune's batch (see bench.ts). */
  weights: string;
}

export class PythonReference {
  private readonly lines: Interface;
  private readonly pending: Array<(line: string) => void> = [];
  private stderr = '';
  private exited: string | null = null;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: proc.stdout });
    this.lines.on('line', (l) => this.pending.shift()?.(l));
    proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + String(d)).slice(-4000);
    });
    proc.on('exit', (code, sig) => {
      this.exited = `the Python reference exited (${sig ?? code}): ${this.stderr.trim().split('\n').pop() ?? ''}`;
      for (const p of this.pending.splice(0)) p('');
    });
  }

  static async start(c: ReferenceConfig): Promise<PythonReference> {
    const py = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
    if (!existsSync(py))
      throw new Error(`--vs-python needs ${py} with torch and torchvision (apt-get install python3-torchvision)`);
    if (c.precision === 'fp16' && !(c.device ?? 'cpu').startsWith('cuda')) throw new Error('fp16 is CUDA-only');
    const script = join(projectRoot(), 'scripts', 'bench_torch.py');
    const args = [
      script,
      c.arch,
      c.size,
      c.batch,
      c.precision,
      c.threads,
      0,
      0,
      c.channelsLast ? 1 : 0,
      c.device ?? 'cpu',
      c.weights,
      'serve',
    ].map(String);
    const ref = new PythonReference(spawn(py, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    const ready = JSON.parse((await ref.next()) || '{}') as { ready?: boolean };
    if (!ready.ready) throw new Error(ref.exited ?? 'the Python reference did not start');
    return ref;
  }

  private next(): Promise<string> {
    if (this.exited) return Promise.resolve('');
    return new Promise((resolve) => this.pending.push(resolve));
  }

  /** Seconds for `steps` timed calls after `warmup` untimed ones. */
  async time(kind: TimedKind, warmup: number, steps: number): Promise<number> {
    const answer = this.next();
    this.proc.stdin.write(`${kind} ${warmup} ${steps}\n`);
    const line = await answer;
    if (!line) throw new Error(this.exited ?? 'the Python reference stopped answering');
    const r = JSON.parse(line) as { seconds?: number; error?: string };
    if (r.error !== undefined) throw new PythonKindError(kind, r.error);
    return r.seconds!;
  }

  /** `steps` calls under torch.profiler (CPU, FLOPs), as raw events for opProfile.ts. */
  async profile(kind: 'train' | 'predict', steps: number): Promise<OpEvents> {
    const answer = this.next();
    this.proc.stdin.write(`profile-${kind} 0 ${steps}\n`);
    const line = await answer;
    if (!line) throw new Error(this.exited ?? 'the Python reference stopped answering');
    const r = JSON.parse(line) as { events?: OpEvents; error?: string };
    if (r.error !== undefined) throw new PythonKindError(kind, r.error);
    return r.events!;
  }

  close(): void {
    this.proc.stdin.end();
    this.lines.close();
  }
}

/** One kind of work Python's torch cannot run in this configuration; the reference is still up for the others. */
export class PythonKindError extends Error {
  constructor(
    readonly kind: string,
    detail: string,
  ) {
    super(`Python cannot run ${kind}: ${detail}`);
  }
}
