// The audit log: one SQLite row per API request — who asked (client address), when, what
// (the image's SHA-256 and size, never its pixels, file name or DICOM tags), what the model
// answered, which model (weights SHA-256), how long it took, and any error. WAL mode keeps
// each insert to microseconds on the event loop; the file is created private (0600).
// Refusals in a flood (429, 503) are aggregated by RefusalTally: one row per client, route
// and status per second, its `count` saying how many requests it stands for.
import type Database from 'better-sqlite3';
import { openSqliteFile } from '../../util/sqliteFile.js';

export interface AuditRecord {
  id: string;
  time: string;
  client: string;
  method: string;
  route: string;
  status: number;
  imageSha256?: string | null;
  sizeBytes?: number | null;
  format?: string | null;
  probability?: number | null;
  label?: string | null;
  threshold?: number | null;
  modelSha256: string;
  latencyMs: number;
  error?: string | null;
  /** How many requests this row stands for (1, or a refusal tally). */
  count?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY,
  time TEXT NOT NULL,
  client TEXT NOT NULL,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  status INTEGER NOT NULL,
  image_sha256 TEXT,
  size_bytes INTEGER,
  format TEXT,
  probability REAL,
  label TEXT,
  threshold REAL,
  model_sha256 TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  error TEXT,
  count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
`;

const AUDIT_COLUMNS = [
  'id',
  'time',
  'client',
  'method',
  'route',
  'status',
  'image_sha256',
  'size_bytes',
  'format',
  'probability',
  'label',
  'threshold',
  'model_sha256',
  'latency_ms',
  'error',
  'count',
] as const;

export class AuditLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;

  constructor(readonly file: string) {
    this.db = openSqliteFile(file, SCHEMA, 'audit log', (db) => {
      // Logs written before the count column existed gain it (every old row stands for one request).
      const cols = db.prepare('PRAGMA table_info(audit)').all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === 'count'))
        db.exec('ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1');
    });
    this.insert = this.db.prepare(
      `INSERT INTO audit (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map((c) => `@${c}`).join(', ')})`,
    );
  }

  write(r: AuditRecord): void {
    this.insert.run({
      id: r.id,
      time: r.time,
      client: r.client,
      method: r.method,
      route: r.route,
      status: r.status,
      image_sha256: r.imageSha256 ?? null,
      size_bytes: r.sizeBytes ?? null,
      format: r.format ?? null,
      probability: r.probability ?? null,
      label: r.label ?? null,
      threshold: r.threshold ?? null,
      model_sha256: r.modelSha256,
      latency_ms: r.latencyMs,
      error: r.error ?? null,
      count: r.count ?? 1,
    });
  }

  /** Newest first (tests, inspection). */
  recent(limit = 100): Record<string, unknown>[] {
    return this.db.prepare('SELECT * FROM audit ORDER BY time DESC, rowid DESC LIMIT ?').all(limit) as Record<
      string,
      unknown
    >[];
  }

  /** Rows in the log. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
  }

  /** Requests with this HTTP status the log stands for. */
  requestsWithStatus(status: number): number {
    return (
      this.db.prepare('SELECT coalesce(sum(count), 0) AS n FROM audit WHERE status = ?').get(status) as { n: number }
    ).n;
  }

  /** Requests the log stands for (a tally row counts as many). */
  requests(): number {
    return (this.db.prepare('SELECT coalesce(sum(count), 0) AS n FROM audit').get() as { n: number }).n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
