// The PACS as cxrtune sees it: Orthanc's REST API for what is new (/changes: a sequence
// number per event, so following it from a saved cursor misses nothing) and DICOMweb
// (the orthanc-dicomweb plugin) to look at tags (QIDO-RS), fetch instances (WADO-RS) and
// store results (STOW-RS). Credentials may ride in the URL (http://user:pass@host:8042);
// they become a Basic Authorization header and never appear in messages.
import { randomUUID } from 'node:crypto';
import { boundaryOf, buildMultipart, parseMultipart } from './multipartRelated.js';

/** The PACS could not be reached or answered 5xx: worth retrying later. */
export class PacsUnavailableError extends Error {}
/** The PACS answered but refused (4xx) or sent something unusable: retrying will not help. */
class PacsRefusedError extends Error {}

interface Change {
  seq: number;
  changeType: string;
  id: string;
  resourceType: string;
}

interface PacsClientOptions {
  /** DICOMweb root on the Orthanc server (default /dicom-web). */
  dicomWebRoot?: string;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

export class PacsClient {
  /** The base URL without credentials (safe to show). */
  readonly base: string;
  private readonly auth: string | undefined;
  private readonly root: string;
  private readonly timeoutMs: number;

  constructor(url: string, opts: PacsClientOptions = {}) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`--pacs: not a URL (expected e.g. http://127.0.0.1:8042)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new Error(`--pacs: the URL must be http:// or https:// (got ${u.protocol})`);
    this.auth = u.username
      ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
      : undefined;
    u.username = '';
    u.password = '';
    this.base = u.toString().replace(/\/+$/, '');
    this.root = `/${(opts.dicomWebRoot ?? '/dicom-web').replace(/^\/+|\/+$/g, '')}`;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.auth) headers.set('authorization', this.auth);
    let res: Response;
    try {
      res = await fetch(this.base + path, { ...init, headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new PacsUnavailableError(`PACS ${this.base} unreachable (${cause})`);
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new PacsUnavailableError(
        `PACS ${this.base} answered ${res.status} to ${init.method ?? 'GET'} ${path.split('?')[0]}`,
      );
    }
    return res;
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const res = await this.request(path, {
      ...init,
      headers: { accept: 'application/json', ...(init.headers as Record<string, string>) },
    });
    if (!res.ok) {
      const detail = (await res.text()).slice(0, 200).replace(/\s+/g, ' ');
      throw new PacsRefusedError(
        `PACS answered ${res.status} to ${init.method ?? 'GET'} ${path.split('?')[0]}${detail ? `: ${detail}` : ''}`,
      );
    }
    return (await res.json()) as T;
  }

  /** Orthanc's change log after `since` (ascending); done = no more for now. */
  async changes(since: number, limit = 100): Promise<{ changes: Change[]; last: number; done: boolean }> {
    const r = await this.json<{
      Changes: Array<{ Seq: number; ChangeType: string; ID: string; ResourceType: string }>;
      Last: number;
      Done: boolean;
    }>(`/changes?since=${since}&limit=${limit}`);
    return {
      changes: r.Changes.map((c) => ({ seq: c.Seq, changeType: c.ChangeType, id: c.ID, resourceType: c.ResourceType })),
      last: r.Last,
      done: r.Done,
    };
  }

  /** The newest change's sequence number (where following starts on a first run). */
  async lastSeq(): Promise<number> {
    return (await this.json<{ Last: number }>('/changes?last')).Last;
  }

  /** The SOP Instance UID of an Orthanc instance id, or null when it is gone. */
  async instanceSopUid(orthancId: string): Promise<string | null> {
    try {
      const r = await this.json<{ MainDicomTags?: { SOPInstanceUID?: string } }>(
        `/instances/${encodeURIComponent(orthancId)}`,
      );
      return r.MainDicomTags?.SOPInstanceUID ?? null;
    } catch (e) {
      if (e instanceof PacsRefusedError && / 404 /.test(e.message)) return null;
      throw e;
    }
  }

  /** QIDO-RS: one instance by SOP Instance UID with the tags the chest filter needs; null if unknown. */
  async qidoInstance(sopUid: string): Promise<Record<string, { vr: string; Value?: unknown[] }> | null> {
    const fields = ['00080060', '00180015', '00185101', '00080008', '00080016']
      .map((t) => `includefield=${t}`)
      .join('&');
    const r = await this.json<Array<Record<string, { vr: string; Value?: unknown[] }>>>(
      `${this.root}/instances?SOPInstanceUID=${encodeURIComponent(sopUid)}&${fields}`,
      { headers: { accept: 'application/dicom+json' } },
    );
    return r[0] ?? null;
  }

  /**
   * WADO-RS: the instance's Part 10 bytes, asking for Explicit VR Little Endian (Orthanc transcodes compressed images).
   */
  async wadoInstance(studyUid: string, seriesUid: string, sopUid: string): Promise<Buffer> {
    const path = `${this.root}/studies/${studyUid}/series/${seriesUid}/instances/${sopUid}`;
    const accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1';
    let res = await this.request(path, { headers: { accept } });
    if (res.status === 406 || res.status === 400) {
      await res.body?.cancel();
      res = await this.request(path, { headers: { accept: 'multipart/related; type="application/dicom"' } });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new PacsRefusedError(`PACS answered ${res.status} to WADO-RS retrieve`);
    }
    const boundary = boundaryOf(res.headers.get('content-type') ?? undefined);
    if (!boundary) throw new PacsRefusedError('WADO-RS answer is not multipart/related');
    const parts = parseMultipart(Buffer.from(await res.arrayBuffer()), boundary);
    if (parts.length !== 1) throw new PacsRefusedError(`WADO-RS answer holds ${parts.length} instances (expected 1)`);
    return parts[0]!.body;
  }

  /** STOW-RS: stores Part 10 files in a study; throws unless every one was stored. */
  async stow(studyUid: string, files: Buffer[]): Promise<void> {
    const boundary = `cxrtune-${randomUUID()}`;
    const body = buildMultipart(
      files.map((b) => ({ type: 'application/dicom', body: b })),
      boundary,
    );
    const r = await this.json<Record<string, { Value?: unknown[] }>>(`${this.root}/studies/${studyUid}`, {
      method: 'POST',
      body: new Uint8Array(body) as Uint8Array<ArrayBuffer>,
      headers: {
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        accept: 'application/dicom+json',
      },
    });
    const failed = r['00081198']?.Value ?? [];
    const stored = r['00081199']?.Value ?? [];
    if (failed.length || stored.length !== files.length) {
      throw new PacsRefusedError(
        `STOW-RS stored ${stored.length} of ${files.length} instances (${failed.length} failed)`,
      );
    }
  }
}
