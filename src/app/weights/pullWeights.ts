// `cxrtune weights pull ORG/NAME`: downloads a model repo's weights (+ config.json) from the
// Hugging Face Hub into the hub cache, in huggingface_hub's own layout so every tool shares
// it: blobs/<etag>, snapshots/<commit>/<file> → ../../blobs/<etag>, refs/<revision>.
// Honours HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN and the cache variables; resumes a partial
// blob (<etag>.incomplete) with a Range request; checks the size (X-Linked-Size or
// Content-Length) and, for LFS files, the SHA-256 the Hub gives as X-Linked-Etag.
import {
  createReadStream,
  createWriteStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { once } from 'node:events';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { HUB_ID, hfHubCache, hubRepoDir, hubSnapshot } from '../../engine/weights/caches.js';
import { resolveWeightsFile } from '../../engine/weights/weightsFile.js';

type Env = Record<string, string | undefined>;

interface PullOptions {
  repo: string;
  revision?: string;
  /** Files to fetch; default: config.json (if there) and the first of model.safetensors, pytorch_model.bin. */
  files?: string[];
  env?: Env;
  /** Bytes done / total for the file being fetched. */
  progress?: (file: string, done: number, total: number) => void;
  log?: (msg: string) => void;
  /** Attempts per file when a transfer breaks off (each resumes). */
  attempts?: number;
}

interface PulledFile {
  name: string;
  path: string;
  bytes: number;
  sha256: string | null;
  /** Bytes that were already there from an earlier, interrupted download. */
  resumedFrom: number;
  cached: boolean;
}

interface PullResult {
  repo: string;
  snapshot: string;
  weights: string;
  files: PulledFile[];
  offline: boolean;
}

const DEFAULT_FILES = ['config.json', ['model.safetensors', 'pytorch_model.bin']] as const;

function hubEndpoint(env: Env = process.env): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

function isOffline(env: Env): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase());
}

/** What to do by hand when the Hub cannot be reached. */
function offlineAdvice(repo: string, env: Env, revision = 'main'): string {
  const base = `${hubEndpoint(env)}/${repo}/resolve/${revision}`;
  const dir = join(hubRepoDir(repo, env), 'snapshots', revision);
  return (
    `download ${base}/model.safetensors and ${base}/config.json on a connected machine and put them in ${dir}/ ` +
    `(or run cxrtune weights pull ${repo} there and copy ${hubRepoDir(repo, env)} into ${hfHubCache(env)}); ` +
    `then --pretrained ${repo} finds them`
  );
}

interface Head {
  url: string;
  etag: string;
  commit: string | null;
  size: number | null;
  lfsSha256: string | null;
}

const unquote = (s: string | null) => (s ? s.replace(/^W\//, '').replace(/^"|"$/g, '') : null);

async function head(url: string, headers: Record<string, string>): Promise<Head | null> {
  // No redirects: the LFS pointer's headers (X-Linked-*) are on the Hub's 302, not on the CDN's answer.
  const r = await fetch(url, { method: 'HEAD', headers, redirect: 'manual' });
  if (r.status === 404) return null;
  if (r.status === 401 || r.status === 403)
    throw new Error(`${url}: ${r.status} — a gated or private repo needs HF_TOKEN`);
  if (r.status >= 400) throw new Error(`${url}: HTTP ${r.status}`);
  const location = r.headers.get('location');
  // A renamed repo answers with a relative redirect to its new name: follow it (the Hub's own rule).
  if (r.status >= 300 && location?.startsWith('/') && !r.headers.get('x-linked-etag') && !r.headers.get('etag'))
    return head(new URL(location, url).href, headers);
  const linked = unquote(r.headers.get('x-linked-etag'));
  const etag = linked ?? unquote(r.headers.get('etag'));
  if (!etag) throw new Error(`${url}: the server gave no ETag (is HF_ENDPOINT a Hugging Face Hub?)`);
  const size = Number(
    r.headers.get('x-linked-size') ?? (r.status < 300 ? r.headers.get('content-length') : null) ?? NaN,
  );
  return {
    url,
    etag,
    commit: r.headers.get('x-repo-commit'),
    size: Number.isFinite(size) ? size : null,
    lfsSha256: linked && /^[0-9a-f]{64}$/.test(linked) ? linked : null,
  };
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Downloads url into `incomplete`, resuming what is there; returns the bytes that were already there. */
async function download(
  h: Head,
  incomplete: string,
  headers: Record<string, string>,
  name: string,
  o: PullOptions,
): Promise<number> {
  const attempts = o.attempts ?? 3;
  const first = existsSync(incomplete) ? statSync(incomplete).size : 0;
  for (let attempt = 1; ; attempt++) {
    const have = existsSync(incomplete) ? statSync(incomplete).size : 0;
    if (h.size !== null && have === h.size) return first;
    if (h.size !== null && have > h.size) rmSync(incomplete);
    const start = h.size !== null && have > h.size ? 0 : have;
    try {
      const r = await fetch(h.url, { headers: { ...headers, ...(start ? { Range: `bytes=${start}-` } : {}) } });
      if (r.status === 416) {
        rmSync(incomplete, { force: true });
        throw new Error('range not satisfiable');
      }
      if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
      // 200 to a range request: the server sends everything again.
      const from = r.status === 206 ? start : 0;
      const total = h.size ?? (Number(r.headers.get('content-length')) + from || 0);
      const out = createWriteStream(incomplete, { flags: from ? 'a' : 'w' });
      let done = from;
      try {
        for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
          if (!out.write(chunk)) await once(out, 'drain');
          done += chunk.byteLength;
          o.progress?.(name, done, total);
        }
      } finally {
        out.end();
        await once(out, 'close');
      }
      if (h.size === null || done === h.size) return first;
      throw new Error(`transfer ended at ${done} of ${h.size} bytes`);
    } catch (e) {
      if (attempt >= attempts)
        throw new Error(
          `${h.url}: ${(e as Error).message} (partial download kept in ${incomplete}; run pull again to resume)`,
        );
      o.log?.(`${name}: ${(e as Error).message}; resuming (attempt ${attempt + 1}/${attempts})`);
    }
  }
}

export async function pullWeights(o: PullOptions): Promise<PullResult> {
  const env = o.env ?? process.env;
  const { repo } = o;
  const revision = o.revision ?? 'main';
  if (!HUB_ID.test(repo)) throw new Error(`'${repo}' is not a Hub model id (ORG/NAME, e.g. timm/resnet50.tv_in1k)`);
  const repoDir = hubRepoDir(repo, env);
  if (isOffline(env)) {
    const snap = hubSnapshot(repo, revision, env);
    let weights: string | null = null;
    try {
      weights = snap ? resolveWeightsFile(snap) : null;
    } catch {
      /* no weights file there */
    }
    if (!snap || !weights)
      throw new Error(
        `offline (HF_HUB_OFFLINE=1) and ${repo} is not in the Hugging Face cache: ` +
          `${offlineAdvice(repo, env, revision)}`,
      );
    return { repo, snapshot: snap, weights, files: [], offline: true };
  }
  const headers: Record<string, string> = { 'user-agent': 'cxrtune' };
  if (env.HF_TOKEN) headers.authorization = `Bearer ${env.HF_TOKEN}`;
  const wanted = o.files
    ? o.files.map((f) => [f] as const)
    : DEFAULT_FILES.map((f) => (typeof f === 'string' ? [f] : f));
  const heads: { name: string; h: Head }[] = [];
  for (const choices of wanted) {
    let found: { name: string; h: Head } | null = null;
    for (const name of choices) {
      const url = `${hubEndpoint(env)}/${repo}/resolve/${encodeURIComponent(revision)}/${name}`;
      let h: Head | null;
      try {
        h = await head(url, headers);
      } catch (e) {
        const cause = (e as { cause?: { code?: string } }).cause?.code;
        if (cause || (e as Error).message === 'fetch failed') {
          throw new Error(
            `cannot reach ${hubEndpoint(env)} (${cause ?? (e as Error).message}): ` +
              `${offlineAdvice(repo, env, revision)}`,
          );
        }
        throw e;
      }
      if (h) {
        found = { name, h };
        break;
      }
    }
    if (found) heads.push(found);
    else if (choices.some((c) => c.endsWith('.safetensors') || c.endsWith('.bin') || o.files)) {
      throw new Error(`${repo}@${revision} has no ${choices.join(' or ')} on ${hubEndpoint(env)} (is the id right?)`);
    }
  }
  const commit = heads.find((x) => x.h.commit)?.h.commit ?? revision;
  const snapshot = join(repoDir, 'snapshots', commit);
  const files: PulledFile[] = [];
  for (const { name, h } of heads) {
    const blob = join(repoDir, 'blobs', h.etag);
    const link = join(snapshot, name);
    mkdirSync(dirname(blob), { recursive: true });
    let resumedFrom = 0;
    const cached = existsSync(blob) && (h.size === null || statSync(blob).size === h.size);
    if (!cached) {
      const incomplete = `${blob}.incomplete`;
      resumedFrom = await download(h, incomplete, headers, name, o);
      const size = statSync(incomplete).size;
      if (h.size !== null && size !== h.size)
        throw new Error(`${name}: ${size} bytes downloaded, the Hub says ${h.size}`);
      if (h.lfsSha256) {
        const got = await sha256(incomplete);
        if (got !== h.lfsSha256) {
          rmSync(incomplete);
          throw new Error(
            `${name}: SHA-256 ${got} does not match the Hub's ${h.lfsSha256}; the download was removed, run pull again`,
          );
        }
      }
      renameSync(incomplete, blob);
    }
    mkdirSync(dirname(link), { recursive: true });
    const target = relative(dirname(link), blob);
    const st = lstatSync(link, { throwIfNoEntry: false });
    const keep = st?.isSymbolicLink() && readlinkSync(link) === target;
    if (st && !keep) unlinkSync(link);
    if (!keep) symlinkSync(target, link);
    files.push({ name, path: link, bytes: statSync(blob).size, sha256: h.lfsSha256, resumedFrom, cached });
  }
  if (commit !== revision) await writeFileAtomic(join(repoDir, 'refs', revision), commit);
  return { repo, snapshot, weights: resolveWeightsFile(snapshot), files, offline: false };
}
