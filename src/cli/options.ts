// The command-line options every command shares, declared once: each builder returns a fresh
// commander Option (an Option belongs to one command), and every number on the command line is
// read by one parser that names its flag when it refuses a value.
import { InvalidArgumentError, Option } from 'commander';
import { ARCHS, type Precision } from '../engine/types.js';

export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'fp16'];

interface Range {
  min?: number;
  max?: number;
}

/** The long name of a flags string: '--crop-margin <f>' → '--crop-margin'. */
function longName(flags: string): string {
  return flags.split(/[ ,|]+/).find((f) => f.startsWith('--')) ?? flags;
}

/** Integer parser for `flag`: refuses what is not an integer in [min, max] (default min 0). */
export function intParser(flag: string, { min = 0, max = Number.MAX_SAFE_INTEGER }: Range = {}): (v: string) => number {
  return (v) => {
    const n = v.trim() === '' ? Number.NaN : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
      throw new InvalidArgumentError(`${flag}: '${v}' is not an integer ${range}`);
    }
    return n;
  };
}

/** Number parser for `flag`: refuses what is not a finite number in [min, max]. */
export function numParser(flag: string, { min = -Infinity, max = Infinity }: Range = {}): (v: string) => number {
  return (v) => {
    const n = v.trim() === '' ? Number.NaN : Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: '${v}' is not a number`);
    if (n < min || n > max) throw new InvalidArgumentError(`${flag}: ${n} is not in [${min}, ${max}]`);
    return n;
  };
}

/** An integer option; `def` is commander's default (left out where "not given" must stay visible). */
export function intOption(flags: string, desc: string, o: Range & { def?: number } = {}): Option {
  const opt = new Option(flags, desc).argParser(intParser(longName(flags), o));
  return o.def === undefined ? opt : opt.default(o.def);
}

/** A number option. */
export function numOption(flags: string, desc: string, o: Range & { def?: number } = {}): Option {
  const opt = new Option(flags, desc).argParser(numParser(longName(flags), o));
  return o.def === undefined ? opt : opt.default(o.def);
}

/** An option taking one of `xs`. */
export function choiceOption(flags: string, desc: string, xs: readonly string[], def?: string): Option {
  const opt = new Option(flags, desc).choices(xs as string[]);
  return def === undefined ? opt : opt.default(def);
}

/** --threads: libtorch's intra-op threads. `workers`: the command can start local workers (--nproc). */
export function threadsOption(o: { workers?: boolean } = {}): Option {
  const split = o.workers ? ', split between local workers' : '';
  return intOption('--threads <n>', `CPU threads (default: physical cores${split})`, { min: 1 });
}

/** --precision: one of fp32, bf16, fp16. */
export function precisionOption(desc: string, def?: Precision): Option {
  return choiceOption('--precision <p>', desc, PRECISIONS, def);
}

/** --batch: images per engine call. */
export function batchOption(desc: string, def?: number): Option {
  return intOption('--batch <n>', desc, { min: 1, def });
}

/** --seed: a non-negative integer. */
export function seedOption(desc: string, def?: number): Option {
  return intOption('--seed <n>', desc, { def });
}

/** --size: the image side in pixels. */
export function sizeOption(desc: string, def?: number): Option {
  return intOption('--size <px>', desc, { def });
}

/** --json: `what` on stdout as JSON instead of text. */
export function jsonOption(desc = 'print JSON'): Option {
  return new Option('--json', desc);
}

/** --quiet: no progress lines. */
export function quietOption(desc = 'no progress on stderr'): Option {
  return new Option('--quiet', desc);
}

/** --manifest: a dataset manifest CSV. */
export function manifestOption(desc: string, o: { required?: boolean; arg?: string } = {}): Option {
  const opt = new Option(`--manifest <${o.arg ?? 'csv'}>`, desc);
  return o.required ? opt.makeOptionMandatory() : opt;
}

/** --split: which split of the manifest. */
export function splitOption(desc: string): Option {
  return new Option('--split <name>', desc);
}

/** --model: a run folder or checkpoint folder. */
export function modelOption(desc: string, o: { required?: boolean; arg?: string } = {}): Option {
  const opt = new Option(`--model <${o.arg ?? 'run|checkpoint'}>`, desc);
  return o.required ? opt.makeOptionMandatory() : opt;
}

/**
 * --lungs: a lung segmenter (cxrtune lungs train) instead of the one a lung-cropping model carries;
 * `what` says what it finds there.
 */
export function lungsOption(what: string): Option {
  return new Option('--lungs <dir>', `lung segmenter instead of the one the model carries: ${what}`);
}

/** --device: cpu or cuda:N. */
export function deviceOption(desc = 'cpu or cuda:N', def?: string): Option {
  const opt = new Option('--device <dev>', desc);
  return def === undefined ? opt : opt.default(def);
}

/** --arch: one architecture of the registry. */
export function archOption(desc = 'architecture'): Option {
  return choiceOption('--arch <name>', desc, ARCHS);
}

/**
 * --backend: the process-group backend. Only what this addon can run is accepted: it is built
 * with Gloo only, so nccl is refused here, before any worker starts, with the reason.
 */
export function backendOption(): Option {
  return new Option(
    '--backend <b>',
    'process-group backend: gloo, the one this addon is built with (default gloo)',
  ).argParser((v) => {
    if (v === 'gloo') return v;
    if (v === 'nccl')
      throw new InvalidArgumentError(
        '--backend nccl needs ProcessGroupNCCL from a CUDA libtorch; this addon is built with Gloo ' +
          'only (use --backend gloo)',
      );
    throw new InvalidArgumentError(`--backend: '${v}' is not a backend this addon has (gloo)`);
  });
}

/** --max-batch: studies per engine call of the screening queue. */
export function maxBatchOption(): Option {
  return intOption('--max-batch <n>', 'studies per engine call at most', { min: 1, def: 4 });
}

/** A comma-separated list of values from `allowed` (bench's --arch and --precision). */
export function listArg<T extends string>(v: string, allowed: readonly T[], what: string): T[] {
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const x of xs)
    if (!allowed.includes(x as T)) throw new Error(`unknown ${what} '${x}' (one of: ${allowed.join(', ')})`);
  if (!xs.length) throw new Error(`no ${what} given`);
  return xs as T[];
}
