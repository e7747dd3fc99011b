// The PACS link: follows Orthanc's change log for new instances, takes STOW-RS pushes, and
// works each instance through received → (skipped | screened) → sent, persisting every
// step in the worklist (worklistStore.ts). Per instance: the tags are checked first (QIDO-RS;
// non-chest instances are skipped with the reason, no pixels fetched), the image is fetched
// (WADO-RS) and screened through the server's StudyQueue (so it batches with API requests; an
// image the refusal finds not to be a frontal chest radiograph is skipped with its reason),
// the SR and the Grad-CAM secondary capture are written (dcmjs) and stored in the source
// study (STOW-RS). A PACS that is away is retried with backoff; nothing is dropped. Each step
// leaves an audit row naming the item's pseudonymous id, never a UID or patient attribute.
import { taskOfModel, type TaskRecord } from '../../data/task.js';
import type { AuditLog } from '../serve/auditLog.js';
import type { ServedModel } from '../serve/servedModel.js';
import { type QueuedResult, QueueFullError, type StudyQueue } from '../serve/studyQueue.js';
import { StudyInputError } from '../serve/screen.js';
import { StudyRefusedError } from '../serve/frontalRefusal.js';
import { skipReason } from './chestFilter.js';
import { writeDicomFile } from './dicomFile.js';
import { packFiles, unpackFiles } from './outbox.js';
import { buildOverlaySc, renderOverlay } from './overlaySc.js';
import { PacsClient, PacsUnavailableError } from './pacsClient.js';
import { PACS_DEFAULTS, type PacsOptions } from './pacsOptions.js';
import { resultUids } from './resultUids.js';
import { buildScreeningSr, type ModelIdentity } from './screeningSr.js';
import { filterTagsFromJson, readSourceHeader, type SourceHeader } from './sourceHeader.js';
import { WorklistStore, type WorklistItem } from './worklistStore.js';

interface PacsDeps {
  served: ServedModel;
  queue: StudyQueue;
  audit?: AuditLog;
  /** cxrtune's version, written as SoftwareVersions. */
  software: string;
  log?: (line: string) => void;
}

/** What STOW-RS answers for one pushed instance. */
export interface StowOutcome {
  sopClassUid: string;
  sopUid: string;
  ok: boolean;
  /** 'accepted' | 'already received' | why it was refused. */
  detail: string;
}

/** Audit statuses of the PACS steps (HTTP-like, so one query reads both kinds of rows). */
const STEP_STATUS = { received: 202, skipped: 204, screened: 200, sent: 201, waiting: 503, failed: 422 } as const;
type Step = keyof typeof STEP_STATUS;

/** Marks a row that waits for nothing (results kept here: no PACS configured). */
const NEVER = Number.MAX_SAFE_INTEGER;

export class PacsService {
  readonly store: WorklistStore;
  readonly client: PacsClient | null;
  /** What the served model screens for (its SR, overlay and worklist name the finding from it). */
  readonly task: TaskRecord;
  private readonly opts: Required<Omit<PacsOptions, 'url' | 'fromStart'>> & Pick<PacsOptions, 'fromStart'>;
  private readonly model: ModelIdentity;
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollWake: (() => void) | null = null;
  private poller: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private pacsDown = false;
  private auditSeq = 0;

  constructor(
    private readonly deps: PacsDeps,
    options: PacsOptions = {},
  ) {
    this.opts = {
      worklist: options.worklist ?? PACS_DEFAULTS.worklist,
      dicomWebRoot: options.dicomWebRoot ?? PACS_DEFAULTS.dicomWebRoot,
      pollMs: options.pollMs ?? PACS_DEFAULTS.pollMs,
      concurrency: options.concurrency ?? PACS_DEFAULTS.concurrency,
      maxBackoffMs: options.maxBackoffMs ?? PACS_DEFAULTS.maxBackoffMs,
      fromStart: options.fromStart,
    };
    for (const k of ['pollMs', 'concurrency', 'maxBackoffMs'] as const) {
      if (!(Number.isInteger(this.opts[k]) && this.opts[k] >= 1))
        throw new Error(`pacs ${k} must be an integer >= 1 (got ${this.opts[k]})`);
    }
    this.client = options.url ? new PacsClient(options.url, { dicomWebRoot: this.opts.dicomWebRoot }) : null;
    this.store = new WorklistStore(this.opts.worklist);
    const s = deps.served;
    this.model = { arch: s.meta.arch, version: s.version, sha256: s.sha256, software: `cxrtune ${deps.software}` };
    this.task = taskOfModel(s.meta);
  }

  /** Starts following the PACS (if any) and resumes whatever the worklist left unfinished. */
  start(): void {
    if (this.client) this.poller = this.follow();
    this.kick();
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollWake?.();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.poller;
    // Items in flight finish their current step (the row says where to resume otherwise).
    await Promise.allSettled([...this.running.values()]);
    this.store.close();
  }

  // ---- receive --------------------------------------------------------------------------

  private async follow(): Promise<void> {
    const client = this.client!;
    let since = this.store.cursor();
    while (!this.stopped) {
      try {
        if (since === null) {
          since = this.opts.fromStart ? 0 : await client.lastSeq();
          this.store.addReceived([], this.deps.served.sha256, { name: 'orthanc', seq: since });
          this.deps.log?.(`pacs: following ${client.base} from change ${since}`);
        }
        const r = await client.changes(since, 100);
        const items: Array<{ source: 'pacs'; sopUid: string; orthancId: string }> = [];
        for (const c of r.changes) {
          if (c.changeType !== 'NewInstance') continue;
          const sopUid = await client.instanceSopUid(c.id);
          // Our own SR and overlay come back through the change log: not work.
          if (sopUid && !this.store.isResult(sopUid)) items.push({ source: 'pacs', sopUid, orthancId: c.id });
        }
        const added = this.store.addReceived(items, this.deps.served.sha256, { name: 'orthanc', seq: r.last });
        since = r.last;
        if (this.pacsDown) this.deps.log?.(`pacs: ${client.base} is back`);
        this.pacsDown = false;
        for (const id of added) this.auditStep(id, 'received', 0, {});
        if (added.length) this.kick();
        if (!r.done) continue;
      } catch (e) {
        if (!this.pacsDown)
          this.deps.log?.(
            `pacs: cannot follow changes: ${(e as Error).message}; retrying every ${this.opts.pollMs} ms`,
          );
        this.pacsDown = true;
      }
      await new Promise<void>((resolve) => {
        this.pollWake = resolve;
        this.pollTimer = setTimeout(resolve, this.opts.pollMs);
      });
    }
  }

  /** STOW-RS: keeps each Part 10 instance in the worklist (inbox) and answers at once; screening follows. */
  ingest(files: Buffer[]): StowOutcome[] {
    const out: StowOutcome[] = [];
    for (const bytes of files) {
      let h: SourceHeader;
      try {
        h = readSourceHeader(bytes);
      } catch (e) {
        out.push({ sopClassUid: '', sopUid: '', ok: false, detail: (e as Error).message });
        continue;
      }
      const [id] = this.store.addReceived(
        [{ source: 'stow', sopUid: h.sopUid, studyUid: h.studyUid, seriesUid: h.seriesUid, inbox: bytes }],
        this.deps.served.sha256,
      );
      if (id) this.auditStep(id, 'received', 0, { sizeBytes: bytes.length });
      out.push({
        sopClassUid: h.sopClassUid,
        sopUid: h.sopUid,
        ok: true,
        detail: id ? 'accepted' : 'already received',
      });
    }
    this.kick();
    return out;
  }

  // ---- work -----------------------------------------------------------------------------

  /** Starts due items up to the concurrency limit; a timer wakes it for retries. */
  private kick(): void {
    if (this.stopped) return;
    const free = this.opts.concurrency - this.running.size;
    if (free > 0) {
      for (const it of this.store.due(Date.now(), free, new Set(this.running.keys()))) {
        const p = this.work(it)
          .catch((e) => this.deps.log?.(`pacs: item ${it.id}: ${(e as Error).message}`))
          .finally(() => {
            this.running.delete(it.id);
            this.kick();
          });
        this.running.set(it.id, p);
      }
    }
    const next = this.store.nextDueAt();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (next !== null && next !== NEVER && next > Date.now())
      this.retryTimer = setTimeout(() => this.kick(), Math.min(next - Date.now(), 60_000) + 5);
  }

  private async work(it: WorklistItem): Promise<void> {
    const t0 = performance.now();
    let step = it.status === 'received' ? 'screen' : 'send';
    try {
      if (it.status === 'received') {
        if (!(await this.screen(it))) return;
        it = this.store.get(it.id)!;
        step = 'send';
      }
      if (it.status === 'screened' && it.nextTryAt !== NEVER) await this.send(it);
    } catch (e) {
      const ms = performance.now() - t0;
      if (e instanceof PacsUnavailableError || e instanceof QueueFullError) {
        const attempts = it.attempts + 1;
        const wait =
          e instanceof QueueFullError ? 1000 : Math.min(this.opts.maxBackoffMs, 500 * 2 ** Math.min(attempts, 16));
        this.store.update(it.id, {
          attempts,
          nextTryAt: Date.now() + wait,
          reason: `waiting to ${step} (attempt ${attempts}): ${e.message}`,
        });
        this.auditStep(it.id, 'waiting', ms, { error: e.message });
      } else {
        const msg = e instanceof Error ? e.message : String(e);
        // Terminal: the pushed bytes and unsent results (they hold patient attributes) are dropped.
        this.store.update(it.id, { status: 'failed', reason: `${step}: ${msg}`, inbox: null, outbox: null });
        this.auditStep(it.id, 'failed', ms, { error: `${step}: ${msg}` });
      }
    }
  }

  private skip(it: WorklistItem, reason: string, t0: number): false {
    this.store.update(it.id, { status: 'skipped', reason, inbox: null });
    this.auditStep(it.id, 'skipped', performance.now() - t0, { error: `skipped: ${reason}` });
    return false;
  }

  /** Fetch (or take the pushed bytes), check, screen, write the results. false = skipped. */
  private async screen(it: WorklistItem): Promise<boolean> {
    const t0 = performance.now();
    let bytes: Buffer | null;
    if (it.source === 'stow') {
      bytes = this.store.blob(it.id, 'inbox');
      if (!bytes) throw new Error('pushed instance lost its bytes');
    } else {
      const client = this.client;
      if (!client) throw new PacsUnavailableError('no PACS configured to fetch from');
      const j = await client.qidoInstance(it.sopUid);
      if (!j) return this.skip(it, 'the instance is no longer in the PACS', t0);
      const t = filterTagsFromJson(j);
      this.store.update(it.id, { studyUid: t.studyUid, seriesUid: t.seriesUid, modality: t.modality, view: t.view });
      const why = skipReason(t);
      if (why) return this.skip(it, why, t0);
      bytes = await client.wadoInstance(t.studyUid, t.seriesUid, it.sopUid);
    }
    const src = readSourceHeader(bytes);
    this.store.update(it.id, { modality: src.modality, view: src.view });
    const why = skipReason(src);
    if (why) return this.skip(it, why, t0);
    let r: QueuedResult;
    try {
      r = await this.deps.queue.submit(bytes);
    } catch (e) {
      if (e instanceof StudyInputError) throw new Error(`${e.problem}: ${e.message}`);
      // Not a frontal chest radiograph by its pixels (whatever its tags said): no SR, no score, the reason kept.
      if (e instanceof StudyRefusedError) return this.skip(it, e.message, t0);
      throw e;
    }
    const m = this.deps.served.meta;
    const finding = {
      probability: r.probability,
      threshold: r.threshold,
      positive: r.positive,
      label: r.label,
      positiveClass: m.classes[m.positiveClass]!,
      task: this.task,
      probabilities: Object.fromEntries(m.classes.map((c, i) => [c, r.probabilities[i]!])),
    };
    const uids = resultUids(src.studyUid, src.sopUid, this.model.sha256);
    const overlay = await renderOverlay(r.study.input, r.heat);
    const now = new Date();
    const sc = writeDicomFile(buildOverlaySc(src, finding, this.model, uids, overlay, now));
    const sr = writeDicomFile(buildScreeningSr(src, finding, this.model, uids, now));
    this.store.update(it.id, {
      status: 'screened',
      screenedAt: now.toISOString(),
      imageSha256: r.study.sha256,
      probability: r.probability,
      label: r.label,
      decision: r.positive ? 'positive' : 'negative',
      threshold: r.threshold,
      srUid: uids.srSop,
      scUid: uids.scSop,
      studyUid: src.studyUid,
      seriesUid: src.seriesUid,
      overlayPng: overlay.png,
      inbox: null,
      attempts: 0,
      ...(this.client
        ? { outbox: packFiles([sc, sr]), nextTryAt: 0, reason: null }
        : { nextTryAt: NEVER, reason: 'results kept here: no PACS configured to send them to' }),
    });
    this.auditStep(it.id, 'screened', performance.now() - t0, {
      imageSha256: r.study.sha256,
      sizeBytes: r.study.bytes,
      format: r.study.format,
      probability: r.probability,
      label: r.label,
      threshold: r.threshold,
    });
    return true;
  }

  /** STOW-RS of the SC and the SR into the source study. */
  private async send(it: WorklistItem): Promise<void> {
    const t0 = performance.now();
    const blob = this.store.blob(it.id, 'outbox');
    if (!blob || !it.studyUid) throw new Error('screened item without results to send');
    await this.client!.stow(it.studyUid, unpackFiles(blob));
    const now = new Date();
    this.store.update(it.id, {
      status: 'sent',
      sentAt: now.toISOString(),
      sentMs: now.getTime(),
      outbox: null,
      reason: null,
    });
    this.auditStep(it.id, 'sent', performance.now() - t0, {});
  }

  private auditStep(
    itemId: string,
    step: Step,
    ms: number,
    extra: {
      imageSha256?: string;
      sizeBytes?: number;
      format?: string;
      probability?: number;
      label?: string;
      threshold?: number;
      error?: string;
    },
  ): void {
    this.deps.audit?.write({
      id: `${itemId}.${step}.${Date.now()}.${++this.auditSeq}`,
      time: new Date().toISOString(),
      client: 'pacs',
      method: 'PACS',
      route: `pacs/${step}`,
      status: STEP_STATUS[step],
      modelSha256: this.deps.served.sha256,
      latencyMs: Math.round(ms * 10) / 10,
      ...extra,
    });
    this.deps.log?.(
      `${new Date().toISOString()} pacs ${step} ${itemId}` +
        (extra.probability !== undefined ? ` p=${extra.probability.toFixed(3)} ${extra.label}` : '') +
        (extra.error ? ` ${extra.error}` : ''),
    );
  }
}
