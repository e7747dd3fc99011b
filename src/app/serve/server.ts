// The screening server: Fastify with the API, the page, token auth, the audit log and the
// bounded study queue. buildServer() wires everything without listening (tests inject);
// startServer() also listens. Secure by default: off loopback it will not start without a
// token, only PNG/JPEG/DICOM bytes are accepted, bodies and pixels are bounded, and every
// /api request leaves an audit row.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../engine/native.js';
import { DEFAULT_MAX_STUDY_PIXELS, preprocessOf } from '../screen.js';
import { ApiError } from './apiError.js';
import { AuditLog } from './auditLog.js';
import { isLoopbackHost } from './loopback.js';
import { modelCard } from './modelCard.js';
import { openApiDocument } from './openapi.js';
import { attachPacs } from './pacsLink.js';
import { withPacsPaths } from './pacsOpenApi.js';
import type { PacsService } from '../pacs/pacsService.js';
import { registerInfoRoutes } from './routes/infoRoutes.js';
import { registerPageRoutes } from './routes/pageRoutes.js';
import { registerScreenRoute } from './routes/screenRoute.js';
import { SERVE_DEFAULTS, type ServeOptions } from './serveOptions.js';
import type { ServedModel } from './servedModel.js';
import type { StudyAuditInfo } from './studyAudit.js';
import { StudyQueue } from './studyQueue.js';
import { makeTokenCheck, tokenProblem } from './tokenCheck.js';

export interface Server {
  app: FastifyInstance;
  audit: AuditLog;
  queue: StudyQueue;
  /** The PACS link (worklist, follower, STOW-RS) when opts.pacs is set. */
  pacs: PacsService | null;
  host: string;
  /** Listens; resolves to the base URL (port 0 picks a free port). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Refuses settings that would expose patient images (no token off loopback, weak token). */
export function checkExposure(host: string, token: string | undefined): void {
  if (token !== undefined) {
    const p = tokenProblem(token);
    if (p) throw new Error(p);
  } else if (!isLoopbackHost(host)) {
    throw new Error(`refusing to listen on ${host} without a token: anyone on the network could send and screen images. `
      + 'Give --token T (or set CXRTUNE_TOKEN), or listen on 127.0.0.1');
  }
}

export async function buildServer(served: ServedModel, opts: ServeOptions = {}): Promise<Server> {
  const host = opts.host ?? SERVE_DEFAULTS.host;
  const port = opts.port ?? SERVE_DEFAULTS.port;
  const token = opts.token === '' ? undefined : opts.token;
  checkExposure(host, token);
  const bodyLimit = opts.bodyLimit ?? SERVE_DEFAULTS.bodyLimit;
  const timeoutMs = opts.timeoutMs ?? SERVE_DEFAULTS.timeoutMs;
  const pre = preprocessOf(served.meta, opts.maxPixels ?? DEFAULT_MAX_STUDY_PIXELS);
  const queue = new StudyQueue(served.model, served.meta, pre, opts.queue);
  const audit = new AuditLog(opts.db ?? SERVE_DEFAULTS.db);
  const card = modelCard(served);
  const checkToken = token ? makeTokenCheck(token) : null;

  const app = Fastify({
    logger: false,
    bodyLimit,
    // Slow uploads (slowloris) are cut off; processing has its own timeout.
    requestTimeout: Math.max(60_000, timeoutMs * 2),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: false,
    return503OnClosing: true,
  });

  // Per-request notes for the audit row (a WeakMap: no typing games with FastifyRequest).
  const notes = new WeakMap<FastifyRequest, StudyAuditInfo & { error?: string }>();
  const note = (req: FastifyRequest, info: StudyAuditInfo & { error?: string }) => notes.set(req, { ...notes.get(req), ...info });

  // Every body is bytes: the content is judged by its magic bytes, not by Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  await app.register(multipart, { limits: { fileSize: bodyLimit, files: 1, fields: 10, parts: 11, fieldSize: 4096, headerPairs: 100 } });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer');
    if (!req.url.startsWith('/api/')) return;
    reply.header('cache-control', 'no-store');
    if (checkToken && !checkToken(req.headers.authorization)) {
      reply.header('www-authenticate', 'Bearer realm="cxrtune"');
      throw new ApiError(401, 'unauthorized', req.headers.authorization ? 'wrong token' : 'this server needs a token: send the header Authorization: Bearer <token>');
    }
  });

  app.setErrorHandler((err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) => {
    const e = toApiError(err);
    note(req, { error: `${e.code}: ${e.message}` });
    if (e.status >= 500 && e.status !== 503 && e.status !== 504) opts.log?.(`error in request ${req.id}: ${(err as Error).stack ?? err.message}`);
    for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
    return reply.status(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not_found', detail: `no route ${req.method} ${req.url.split('?')[0]}` }));

  app.addHook('onResponse', async (req, reply) => {
    if (!req.url.startsWith('/api/')) return;
    const n = notes.get(req) ?? {};
    const latencyMs = Math.round(reply.elapsedTime * 10) / 10;
    audit.write({
      id: req.id, time: new Date().toISOString(), client: req.ip, method: req.method, route: req.url.split('?')[0]!,
      status: reply.statusCode, modelSha256: served.sha256, latencyMs, ...n,
    });
    opts.log?.(`${new Date().toISOString()} ${req.ip} ${req.method} ${req.url.split('?')[0]} ${reply.statusCode} ${latencyMs} ms`
      + (n.probability !== undefined ? ` p=${n.probability.toFixed(3)} ${n.label}` : '') + (n.error ? ` ${n.error}` : ''));
  });

  registerPageRoutes(app);
  registerInfoRoutes(app, card, withPacsPaths(openApiDocument(packageVersion(), !!token), !!opts.pacs), queue);
  registerScreenRoute(app, { served, queue, timeoutMs, bodyLimit, note });
  const pacs = opts.pacs ? attachPacs(app, { served, queue, audit, software: packageVersion(), ...(opts.log ? { log: opts.log } : {}) }, opts.pacs) : null;
  await app.ready();
  pacs?.start();

  return {
    app, audit, queue, pacs, host,
    async listen() {
      await app.listen({ host, port });
      const a = app.server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
    },
    async close() {
      await app.close();
      await pacs?.close();
      audit.close();
    },
  };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function toApiError(err: FastifyError | ApiError): ApiError {
  if (err instanceof ApiError) return err;
  const code = (err as FastifyError).code;
  const status = (err as FastifyError).statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE' || status === 413) {
    return new ApiError(413, 'payload_too_large', `the request body is larger than the limit (${err.message})`);
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415) return new ApiError(415, 'unsupported_media_type', err.message);
  if (status !== undefined && status >= 400 && status < 500) return new ApiError(status, 'bad_request', err.message);
  // Unexpected: no internals to the client; the id finds the audit row.
  return new ApiError(500, 'internal_error', 'the server could not process this request');
}
