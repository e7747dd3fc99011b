// JSON on stdout for --json: non-finite numbers (an AUC of a one-class set) become null.
export const jsonOut = (v: unknown) =>
  `${JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)}\n`;
