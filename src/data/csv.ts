// Minimal RFC 4180 CSV reader/writer (quoted fields, embedded commas, quotes and newlines).
// Manifests and source metadata are small enough to parse in memory.

/** Parse CSV text into rows of fields. A UTF-8 BOM and a trailing newline are ignored. */
export function parseCsvRows(text: string): string[][] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\n' || c === '\r') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  // Blank lines are not records.
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

export interface CsvTable {
  header: string[];
  /** Records keyed by header; `line` is the 1-based line number of the record (header = 1). */
  records: { line: number; values: Record<string, string> }[];
}

/** Parse CSV with a header row. `where` names the file in error messages. */
export function parseCsv(text: string, where = 'CSV'): CsvTable {
  const rows = parseCsvRows(text);
  if (rows.length === 0) throw new Error(`${where}: empty CSV (no header row)`);
  const header = rows[0].map((h) => h.trim());
  const records = rows.slice(1).map((r, k) => {
    const values: Record<string, string> = {};
    header.forEach((h, j) => (values[h] = r[j] ?? ''));
    return { line: k + 2, values };
  });
  return { header, records };
}

/** The header for an error message: a binary or garbage file must not flood it. */
function headerList(header: string[]): string {
  const shown = header.slice(0, 20).map((h) => (h.length > 40 ? `${h.slice(0, 39)}…` : h));
  return shown.join(', ') + (header.length > 20 ? `, … (${header.length} columns)` : '');
}

/** Throw one clear error if a needed column is missing. */
export function requireColumns(table: CsvTable, columns: string[], where: string): void {
  const missing = columns.filter((c) => !table.header.includes(c));
  if (missing.length > 0) {
    throw new Error(
      `${where}: missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} (has: ${headerList(table.header)})`,
    );
  }
}

function quote(v: string): string {
  return /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function formatCsv(header: string[], rows: Record<string, unknown>[]): string {
  const lines = [header.map(quote).join(',')];
  for (const r of rows) {
    lines.push(header.map((h) => quote(r[h] === undefined || r[h] === null ? '' : String(r[h]))).join(','));
  }
  return `${lines.join('\n')}\n`;
}
