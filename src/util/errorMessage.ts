// Readable text for anything a library may throw. Some throw strings or plain objects
// (dicom-parser throws `{ exception, dataSet }`), which `String(e)` prints as "[object Object]".

const MAX_LENGTH = 1000;

function text(e: unknown, depth: number): string | undefined {
  if (e === null || e === undefined) return undefined;
  if (typeof e === 'string') return e;
  if (typeof e === 'number' || typeof e === 'boolean' || typeof e === 'bigint') return String(e);
  if (e instanceof Error) return e.message || e.name;
  if (typeof e !== 'object' || depth > 3) return undefined;
  const o = e as Record<string, unknown>;
  // Wrapped causes first (dicom-parser's `exception`), then the usual message fields.
  for (const k of ['exception', 'error', 'message', 'reason', 'cause', 'detail']) {
    const t = text(o[k], depth + 1);
    if (t) return t;
  }
  return undefined;
}

/**
 * The message of a thrown value as one line (never "[object Object]", never a stack):
 * Errors give their message, strings themselves, wrapper objects their inner error.
 * `firstLine` keeps only the first line of a multi-line message (libvips repeats itself).
 * Control characters are escaped (\x1b…) and the text is capped at 1000 characters.
 */
export function errorMessage(e: unknown, opts: { firstLine?: boolean } = {}): string {
  let t = text(e, 0)?.trim();
  if (!t) {
    const kind = e === null ? 'null' : Array.isArray(e) ? 'array' : typeof e;
    return `unknown error (a thrown ${kind} with no message)`;
  }
  const lines = t
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter(Boolean);
  t = opts.firstLine ? lines[0]! : lines.join('; ');
  // Control characters from file contents or names (terminal escapes) are shown, not sent.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the sanitiser exists to match them
  t = t.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return t.length > MAX_LENGTH ? `${t.slice(0, MAX_LENGTH - 1)}…` : t;
}
