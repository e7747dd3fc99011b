// Audit rows for refused floods. A client hammering a full queue (503) or its rate limit (429)
// used to write one row per refusal (16,877 rows in 12 s): the log grew with the attack and
// its inserts took event-loop time from honest requests. Refusals are tallied instead, one
// row per client × route × status × second with a count; the first refusal of each second is
// written at once (so a short burst is visible immediately), the rest when the second ends.
import type { AuditLog, AuditRecord } from './auditLog.js';

/** Statuses that are tallied rather than written one row per request. */
export const TALLIED_STATUSES: ReadonlySet<number> = new Set([429, 503]);

interface Tally {
  record: AuditRecord;
  /** Refusals after the first, not yet written. */
  pending: number;
}

export class RefusalTally {
  private tallies = new Map<string, Tally>();
  private second = -1;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one refused request (its status must be in TALLIED_STATUSES). */
  add(r: AuditRecord): void {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.second) this.flush();
    this.second = second;
    const key = `${r.client}\u0000${r.method}\u0000${r.route}\u0000${r.status}`;
    const t = this.tallies.get(key);
    if (!t) {
      this.audit.write({ ...r, count: 1 });
      this.tallies.set(key, { record: r, pending: 0 });
    } else {
      t.pending++;
      t.record = { ...t.record, latencyMs: Math.max(t.record.latencyMs, r.latencyMs) };
    }
    // Flush the last second of a flood even if no further request comes.
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, 1100);
      this.timer.unref();
    }
  }

  /** Writes the pending counts: one row per key, id derived from the first refusal's. */
  flush(): void {
    for (const t of this.tallies.values()) {
      if (t.pending > 0)
        this.audit.write({
          ...t.record,
          id: `${t.record.id}+${t.pending}`,
          time: new Date(this.now()).toISOString(),
          count: t.pending,
          error: t.record.error ? `${t.record.error} (tally of ${t.pending} more)` : `tally of ${t.pending} more`,
        });
    }
    this.tallies.clear();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
