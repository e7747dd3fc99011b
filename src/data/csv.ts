// CSV reader/writer (RFC 4180: quoted fields, embedded commas, quotes and newlines). Reading is
// csv-parse's; this file adds the line each record starts on and the line an unclosed quote
// opens on, which error messages name. Manifests and source metadata are small enough to parse
// in memory.
import { CsvError, parse } from 'csv-parse/sync';

const LINE_BREAK = /\r\n|\r|\n/g;
const LEADING_BREAKS = /^(?:\r\n|\r|\n)+/;

function breaks(text: string): number {
  return text.match(LINE_BREAK)?.length ?? 0;
}

/** A record's fields and the 1-based line it starts on. */
interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * The line an unclosed quote opens on, given the unfinished record's text (from its first line to
 * the end of the file) and that line's number. After the opening quote every quote is an escaped
 * pair, so the opener is the first quote of the last run of quotes of odd length.
 */
function unclosedQuoteLine(raw: string, firstLine: number): number {
  let opener = -1;
  for (const m of raw.matchAll(/"+/g)) if (m[0].length % 2 === 1) opener = m.index;
  return firstLine + (opener < 0 ? 0 : breaks(raw.slice(0, opener)));
}

function readRecords(text: string, where: string): CsvRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: CsvRecord[] = [];
  // Each record's raw text runs on from the previous one's end (skipped blank lines included), so
  // counting the line breaks in them gives the line every record starts on.
  let line = 1;
  try {
    const rows = parse(text, {
      raw: true,
      // Any line end, as editors count lines (a file mixing them included).
      record_delimiter: ['\r\n', '\n', '\r'],
      // Short rows read as empty fields (the caller fills them); a quote inside an unquoted field is literal.
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; raw: string }[];
    for (const { record, raw } of rows) {
      const lead = raw.match(LEADING_BREAKS)?.[0] ?? '';
      line += breaks(lead);
      // A record that is one empty quoted field ("") is a blank line too.
      if (!(record.length === 1 && record[0] === '')) out.push({ line, fields: record });
      line += breaks(raw.slice(lead.length));
    }
  } catch (e) {
    if (e instanceof CsvError && e.code === 'CSV_QUOTE_NOT_CLOSED') {
      const raw = String((e as CsvError & { raw?: string }).raw ?? '');
      // The unfinished record's raw text runs to the end of the file.
      const lead = raw.match(LEADING_BREAKS)?.[0] ?? '';
      const first = 1 + breaks(text.slice(0, text.length - raw.length + lead.length));
      const at = unclosedQuoteLine(raw.slice(lead.length), first);
      throw new Error(`${where}: line ${at}: a quoted field never closes (the file ends inside it)`);
    }
    if (e instanceof CsvError) throw new Error(`${where}: ${e.message}`);
    throw e;
  }
  return out;
}

/** Parse CSV text into rows of fields. A UTF-8 BOM, blank lines and a trailing newline are ignored. */
export function parseCsvRows(text: string, where = 'CSV'): string[][] {
  return readRecords(text, where).map((r) => r.fields);
}

export interface CsvTable {
  header: string[];
  /** Records keyed by header; `line` is the 1-based line number of the record (header = 1). */
  records: { line: number; values: Record<string, string> }[];
}

/** Parse CSV with a header row. `where` names the file in error messages. */
export function parseCsv(text: string, where = 'CSV'): CsvTable {
  const rows = readRecords(text, where);
  if (rows.length === 0) throw new Error(`${where}: empty CSV (no header row)`);
  const header = rows[0].fields.map((h) => h.trim());
  const records = rows.slice(1).map(({ line, fields }) => {
    const values: Record<string, string> = {};
    for (const [j, h] of header.entries()) values[h] = fields[j] ?? '';
    return { line, values };
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
      `${where}: missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')}` +
        ` (has: ${headerList(table.header)})`,
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
