// The worklist and the PACS retry queue in one SQLite file (WAL, created 0600): one row per
// source instance and model, with its status (received → screened → sent, or skipped /
// failed with the reason), the result, and the follower's /changes cursor. An item is saved
// in the same transaction that advances the cursor, and results wait in the row (outbox)
// until the PACS has them, so neither a PACS outage nor a restart of cxrtune loses work.
// Kept: UIDs (to file the results), the image's SHA-256, the result and the overlay PNG;
// patient names, IDs and dates are never stored (they live only in the outbox DICOM until sent).
import type Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { openSqliteFile } from '../../util/sqliteFile.js';

const ITEM_STATUSES = ['received', 'skipped', 'screened', 'sent', 'failed'] as const;
type ItemStatus = (typeof ITEM_STATUSES)[number];

export interface WorklistItem {
  id: string;
  source: 'pacs' | 'stow';
  orthancId: string | null;
  studyUid: string | null;
  seriesUid: string | null;
  sopUid: string;
  modelSha256: string;
  status: ItemStatus;
  /** Why skipped / failed, or why still waiting (PACS unreachable …). */
  reason: string | null;
  attempts: number;
  nextTryAt: number;
  receivedAt: string;
  screenedAt: string | null;
  sentAt: string | null;
  /** ms since the epoch when cxrtune first saw the instance, and when the results were stored. */
  arrivedMs: number;
  sentMs: number | null;
  imageSha256: string | null;
  modality: string | null;
  view: string | null;
  probability: number | null;
  label: string | null;
  decision: string | null;
  threshold: number | null;
  srUid: string | null;
  scUid: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  id TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  orthanc_id TEXT,
  study_uid TEXT,
  series_uid TEXT,
  sop_uid TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_try_at INTEGER NOT NULL DEFAULT 0,
  received_at TEXT NOT NULL,
  screened_at TEXT,
  sent_at TEXT,
  arrived_ms INTEGER NOT NULL,
  sent_ms INTEGER,
  image_sha256 TEXT,
  modality TEXT,
  view TEXT,
  probability REAL,
  label TEXT,
  decision TEXT,
  threshold REAL,
  sr_uid TEXT,
  sc_uid TEXT,
  overlay_png BLOB,
  inbox BLOB,
  outbox BLOB
);
CREATE INDEX IF NOT EXISTS items_due ON items (status, next_try_at);
CREATE INDEX IF NOT EXISTS items_sr ON items (sr_uid);
CREATE INDEX IF NOT EXISTS items_sc ON items (sc_uid);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
`;

const COLS: Record<keyof WorklistItem, string> = {
  id: 'id',
  source: 'source',
  orthancId: 'orthanc_id',
  studyUid: 'study_uid',
  seriesUid: 'series_uid',
  sopUid: 'sop_uid',
  modelSha256: 'model_sha256',
  status: 'status',
  reason: 'reason',
  attempts: 'attempts',
  nextTryAt: 'next_try_at',
  receivedAt: 'received_at',
  screenedAt: 'screened_at',
  sentAt: 'sent_at',
  arrivedMs: 'arrived_ms',
  sentMs: 'sent_ms',
  imageSha256: 'image_sha256',
  modality: 'modality',
  view: 'view',
  probability: 'probability',
  label: 'label',
  decision: 'decision',
  threshold: 'threshold',
  srUid: 'sr_uid',
  scUid: 'sc_uid',
};
const SELECT = Object.entries(COLS)
  .map(([k, c]) => `${c} AS ${k}`)
  .join(', ');

type ItemUpdate = Partial<Omit<WorklistItem, 'id'>> & {
  overlayPng?: Buffer | null;
  inbox?: Buffer | null;
  outbox?: Buffer | null;
};

/** The row id: a pseudonym of (source SOP Instance UID, model), safe in URLs and logs. */
function itemId(sopUid: string, modelSha256: string): string {
  return createHash('sha256').update(`${sopUid}\0${modelSha256}`).digest('hex').slice(0, 24);
}

export class WorklistStore {
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    this.db = openSqliteFile(file, SCHEMA, 'worklist');
  }

  cursor(name = 'orthanc'): number | null {
    const r = this.db.prepare('SELECT seq FROM cursor WHERE name = ?').get(name) as { seq: number } | undefined;
    return r ? r.seq : null;
  }

  /**
   * New instances and the cursor after them, atomically. An instance already known for this
   * model (same SOP Instance UID) is not added again: that is what makes screening idempotent.
   * Returns the ids added.
   */
  addReceived(
    items: Array<{
      source: 'pacs' | 'stow';
      sopUid: string;
      orthancId?: string;
      studyUid?: string;
      seriesUid?: string;
      inbox?: Buffer;
    }>,
    modelSha256: string,
    cursor?: { name: string; seq: number },
  ): string[] {
    const ins = this.db.prepare(
      'INSERT OR IGNORE INTO items (id, source, orthanc_id, study_uid, series_uid, sop_uid, model_sha256, status, ' +
        'received_at, arrived_ms, inbox)\n      VALUES (@id, @source, @orthanc_id, @study_uid, @series_uid, ' +
        "@sop_uid, @model_sha256, 'received', @received_at, @arrived_ms, @inbox)",
    );
    const cur = this.db.prepare(
      'INSERT INTO cursor (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq',
    );
    return this.db.transaction(() => {
      const added: string[] = [];
      const now = new Date();
      for (const it of items) {
        const id = itemId(it.sopUid, modelSha256);
        const r = ins.run({
          id,
          source: it.source,
          orthanc_id: it.orthancId ?? null,
          study_uid: it.studyUid ?? null,
          series_uid: it.seriesUid ?? null,
          sop_uid: it.sopUid,
          model_sha256: modelSha256,
          received_at: now.toISOString(),
          arrived_ms: now.getTime(),
          inbox: it.inbox ?? null,
        });
        if (r.changes) added.push(id);
      }
      if (cursor) cur.run(cursor.name, cursor.seq);
      return added;
    })();
  }

  /** Whether a SOP Instance UID is one of the results cxrtune wrote (they come back through the change log). */
  isResult(sopUid: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM items WHERE sr_uid = ? OR sc_uid = ? LIMIT 1').get(sopUid, sopUid);
  }

  update(id: string, u: ItemUpdate): void {
    const sets: string[] = [];
    const vals: Record<string, unknown> = { id };
    for (const [k, v] of Object.entries(u)) {
      const col =
        k === 'overlayPng' ? 'overlay_png' : k === 'inbox' || k === 'outbox' ? k : COLS[k as keyof WorklistItem];
      if (!col) throw new Error(`worklist: no column for ${k}`);
      sets.push(`${col} = @${col}`);
      vals[col] = v ?? null;
    }
    if (sets.length) this.db.prepare(`UPDATE items SET ${sets.join(', ')} WHERE id = @id`).run(vals);
  }

  get(id: string): WorklistItem | null {
    return (this.db.prepare(`SELECT ${SELECT} FROM items WHERE id = ?`).get(id) as WorklistItem | undefined) ?? null;
  }

  blob(id: string, which: 'overlay_png' | 'inbox' | 'outbox'): Buffer | null {
    const r = this.db.prepare(`SELECT ${which} AS b FROM items WHERE id = ?`).get(id) as
      | { b: Buffer | null }
      | undefined;
    return r?.b ?? null;
  }

  /** Work that is due: received (to fetch and screen) or screened (to send), oldest first. */
  due(now: number, limit: number, exclude: ReadonlySet<string>): WorklistItem[] {
    const rows = this.db
      .prepare(
        `SELECT ${SELECT} FROM items WHERE status IN ('received', 'screened') AND next_try_at <= ? ORDER BY ` +
          `next_try_at, rowid LIMIT ?`,
      )
      .all(now, limit + exclude.size) as WorklistItem[];
    return rows.filter((r) => !exclude.has(r.id)).slice(0, limit);
  }

  /** When the next waiting item is due (ms since the epoch), or null when nothing waits. */
  nextDueAt(): number | null {
    const r = this.db
      .prepare(`SELECT min(next_try_at) AS t FROM items WHERE status IN ('received', 'screened')`)
      .get() as { t: number | null };
    return r.t;
  }

  /** The worklist: likely positives first (probability descending), then unscreened, newest first. */
  list(opts: { modelSha256?: string; limit?: number } = {}): WorklistItem[] {
    const where = opts.modelSha256 ? 'WHERE model_sha256 = @m' : '';
    return this.db
      .prepare(
        `SELECT ${SELECT} FROM items ${where} ORDER BY probability IS NULL, probability DESC, arrived_ms ` +
          `DESC LIMIT @limit`,
      )
      .all({ m: opts.modelSha256, limit: opts.limit ?? 500 }) as WorklistItem[];
  }

  counts(): Record<ItemStatus, number> {
    const out = Object.fromEntries(ITEM_STATUSES.map((s) => [s, 0])) as Record<ItemStatus, number>;
    for (const r of this.db.prepare('SELECT status, count(*) AS n FROM items GROUP BY status').all() as Array<{
      status: ItemStatus;
      n: number;
    }>)
      out[r.status] = r.n;
    return out;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
