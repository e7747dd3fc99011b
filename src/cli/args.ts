// Parsers for command-line values: a bad value is a one-line error, not a NaN later.
import { InvalidArgumentError } from 'commander';

export function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`'${v}' is not a non-negative integer`);
  return n;
}
export function floatArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`'${v}' is not a number`);
  return n;
}
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
