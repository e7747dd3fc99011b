// ood.json, beside model.json in a checkpoint folder: the statistics the refusal of non-frontal
// images needs (recipe/frontalCheck.ts OodRecord). Plain JSON (numbers, no binary), so the
// in-browser page reads the same file. Written atomically; checked field by field when read, and
// a record fitted for other weights is an error, never silently applied.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { OOD_FORMAT, type OodRecord } from '../../recipe/frontalCheck.js';

export const OOD_FILE = 'ood.json';

/** float32 precision is what the features have; 9 significant digits round-trip it. */
const compact = (_k: string, v: unknown) =>
  typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(9)) : v;

export async function writeOodRecord(checkpointDir: string, r: OodRecord): Promise<string> {
  const file = join(checkpointDir, OOD_FILE);
  await writeFileAtomic(file, `${JSON.stringify(r, compact)}\n`);
  return file;
}

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Throws one line naming the first field that is wrong. */
export function checkOodRecord(r: unknown, where: string): asserts r is OodRecord {
  const bad = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (typeof r !== 'object' || r === null) bad('not a JSON object');
  const o = r as Partial<OodRecord>;
  if (o.format !== OOD_FORMAT) bad(`format is ${JSON.stringify(o.format)}, not ${OOD_FORMAT}`);
  if (typeof o.weightsSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.weightsSha256)) bad('weightsSha256 is missing');
  const l = o.lungFields;
  if (
    !l ||
    !['minArea', 'maxArea', 'minBalance', 'minGap', 'maxOffset', 'minContrast'].every((k) =>
      finite(l[k as keyof typeof l]),
    )
  )
    bad('lungFields needs minArea, maxArea, minBalance, minGap, maxOffset and minContrast');
  const f = o.features;
  if (!f) return bad('features is missing');
  const D = f.dim;
  if (!(Number.isInteger(D) && D >= 1)) bad('features.dim is not a positive integer');
  if (typeof f.layer !== 'string' || !f.layer) bad('features.layer is missing');
  if (!(finite(f.limit) && f.limit > 0)) bad('features.limit is not a positive number');
  if (!Array.isArray(f.mean) || f.mean.length !== D || !f.mean.every(finite)) bad(`features.mean needs ${D} numbers`);
  const k = Array.isArray(f.variances) ? f.variances.length : -1;
  if (k < 0 || !f.variances.every((v) => finite(v) && v > 0)) bad('features.variances must be positive numbers');
  if (!Array.isArray(f.components) || f.components.length !== k * D || !f.components.every(finite))
    bad(`features.components needs ${k}×${D} numbers`);
  if (!(finite(f.residualVariance) && (f.residualVariance > 0 || k === D)))
    bad('features.residualVariance must be a positive number');
}

/** The checkpoint folder's ood.json, or null when it has none. */
export async function readOodRecord(checkpointDir: string): Promise<OodRecord | null> {
  const file = join(checkpointDir, OOD_FILE);
  if (!existsSync(file)) return null;
  let r: unknown;
  try {
    r = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  checkOodRecord(r, file);
  return r;
}

/** A record for these weights, or an error that says how to refit it. */
export function checkOodFor(r: OodRecord, weightsSha256: string | undefined, dir: string): void {
  if (weightsSha256 !== undefined && r.weightsSha256 !== weightsSha256)
    throw new Error(
      `${join(dir, OOD_FILE)} was fitted for weights ${r.weightsSha256.slice(0, 16)}…, not these ` +
        `(${weightsSha256.slice(0, 16)}…): refit it with cxrtune ood fit ${dir}`,
    );
}
