// The screening server: Fastify with the API, the page, token auth, the audit log and the
// bounded study queue. buildServer() wires everything without listening (tests inject);
// listen() also listens. Secure by default: off loopback it will not start without a token;
// every route but the page and /healthz needs the token, is rate-limited per client and
// leaves an audit row (decided on the matched route: routeAccess.ts); only PNG/JPEG/DICOM
// bytes are accepted, bodies and pixels are bounded; every error is {error, detail}.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../engine/native.js';
import { DEFAULT_MAX_STUDY_PIXELS, preprocessOf } from './screen.js';
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
import { RefusalTally, TALLIED_STATUSES } from './refusalTally.js';
import { auditRoute, isPublic, probedPath } from './routeAccess.js';
import { errorMessage } from '../../util/errorMessage.js';
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
  /** Every registered route (method, pattern): what the access tests enumerate. */
  routes: Array<{ method: string; url: string }>;
  /** Listens; resolves to the base URL (port 0 picks a free port). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Refuses settings that would expose patient images (no token off loopback, weak token). */
function checkExposure(host: string, token: string | undefined): void {
  if (token !== undefined) {
    const p = tokenProblem(token);
    if (p) throw new Error(p);
  } else if (!isLoopbackHost(host)) {
    throw new Error(
      `refusing to listen on ${host} without a token: anyone on the network could send and screen images. ` +
        'Give --token-file FILE (or set CXRTUNE_TOKEN), or listen on 127.0.0.1',
    );
  }
}

type AuditNote = StudyAuditInfo & { error?: string };

export async function buildServer(served: ServedModel, opts: ServeOptions = {}): Promise<Server> {
  const host = opts.host ?? SERVE_DEFAULTS.host;
  const port = opts.port ?? SERVE_DEFAULTS.port;
  const token = opts.token === '' ? undefined : opts.token;
  checkExposure(host, token);
  const bodyLimit = opts.bodyLimit ?? SERVE_DEFAULTS.bodyLimit;
  const timeoutMs = opts.timeoutMs ?? SERVE_DEFAULTS.timeoutMs;
  const pre = preprocessOf(served.meta, opts.maxPixels ?? DEFAULT_MAX_STUDY_PIXELS, undefined, served.lungs);
  const queue = new StudyQueue(served.model, served.meta, pre, opts.queue);
  const audit = new AuditLog(opts.db ?? SERVE_DEFAULTS.db);
  const card = modelCard(served);
  const checkToken = token ? makeTokenCheck(token) : null;
  const app = createApp(served, audit, bodyLimit, timeoutMs);

  // Per-request notes for the audit row (a WeakMap: no typing games with FastifyRequest).
  const notes = new WeakMap<FastifyRequest, AuditNote>();
  const note = (req: FastifyRequest, info: AuditNote) => notes.set(req, { ...notes.get(req), ...info });

  await registerBodyParsers(app, bodyLimit);
  // Per-client rate limit (@fastify/rate-limit), run from our own hook so it comes before
  // the token check: an unauthenticated flood is slowed down too.
  await app.register(rateLimit, { global: false });
  const limit = rateLimitHook(app, opts.rateLimit ?? SERVE_DEFAULTS.rateLimit);
  addAccessHook(app, limit, checkToken);
  setErrorHandlers(app, note, opts);
  const tally = new RefusalTally(audit);
  addAuditHook(app, { audit, tally, served, notes, opts });

  const routes: Array<{ method: string; url: string }> = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  registerPageRoutes(app);
  registerInfoRoutes(app, card, withPacsPaths(openApiDocument(packageVersion(), !!token), !!opts.pacs), queue);
  registerScreenRoute(app, { served, queue, timeoutMs, bodyLimit, note });
  const pacs = opts.pacs
    ? attachPacs(
        app,
        { served, queue, audit, software: packageVersion(), ...(opts.log ? { log: opts.log } : {}) },
        opts.pacs,
      )
    : null;
  await app.ready();
  pacs?.start();

  return {
    app,
    audit,
    queue,
    pacs,
    host,
    routes,
    async listen() {
      await app.listen({ host, port });
      const a = app.server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
    },
    async close() {
      await app.close();
      await pacs?.close();
      tally.close();
      audit.close();
    },
  };
}

/** The Fastify instance: bounded bodies and upload time, our request ids, framework and parser errors in our shape. */
function createApp(served: ServedModel, audit: AuditLog, bodyLimit: number, timeoutMs: number): FastifyInstance {
  return Fastify({
    logger: false,
    bodyLimit,
    // Slow uploads (slowloris) are cut off; processing has its own timeout.
    requestTimeout: Math.max(60_000, timeoutMs * 2),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: false,
    return503OnClosing: true,
    // The router's own refusals (a malformed %-escape, an over-long parameter) in our shape.
    frameworkErrors: (err, req, reply: FastifyReply) => {
      const detail = `malformed request (${err.message})`;
      audit.write({
        id: req.id,
        time: new Date().toISOString(),
        client: req.ip,
        method: req.method,
        route: auditRoute(req),
        status: 400,
        modelSha256: served.sha256,
        latencyMs: 0,
        error: `bad_request: ${detail}`,
      });
      void reply.status(400).send({ error: 'bad_request', detail });
    },
    // Errors of the HTTP parser itself (header overflow, garbage request line) in our shape.
    clientErrorHandler: clientError,
  });
}

/** Every body is bytes: the content is judged by its magic bytes, not by Content-Type. */
async function registerBodyParsers(app: FastifyInstance, bodyLimit: number): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  await app.register(multipart, {
    limits: { fileSize: bodyLimit, files: 1, fields: 10, parts: 11, fieldSize: 4096, headerPairs: 100 },
  });
}

/**
 * Security headers, then (off the public routes) the rate limit and the token check. Access is decided on the route the
 * router matched (routeAccess.ts), whatever the encoding.
 */
function addAccessHook(
  app: FastifyInstance,
  limit: (req: FastifyRequest, reply: FastifyReply) => Promise<void>,
  checkToken: ((header: string | undefined) => boolean) | null,
): void {
  app.addHook('onRequest', async (req, reply) => {
    reply
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer');
    if (isPublic(req)) return;
    reply.header('cache-control', 'no-store');
    await limit(req, reply);
    if (checkToken && !checkToken(req.headers.authorization)) {
      reply.header('www-authenticate', 'Bearer realm="cxrtune"');
      throw new ApiError(
        401,
        'unauthorized',
        req.headers.authorization
          ? 'wrong token'
          : 'this server needs a token: send the header Authorization: Bearer <token>',
      );
    }
  });
}

/** Every error as {error, detail} (noted for the audit row); unknown routes as not_found. */
function setErrorHandlers(
  app: FastifyInstance,
  note: (req: FastifyRequest, info: AuditNote) => unknown,
  opts: ServeOptions,
): void {
  app.setErrorHandler((err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) => {
    const e = toApiError(err);
    note(req, { error: `${e.code}: ${e.message}` });
    if (e.status >= 500 && e.status !== 503 && e.status !== 504)
      opts.log?.(`error in request ${req.id}: ${errorMessage(err)}`);
    for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
    return reply.status(e.status).send(e.body());
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: 'not_found', detail: `no route ${req.method} ${probedPath(req.url)}` }),
  );
}

/** One audit row per non-public request (refusals tallied instead), and the log line. */
function addAuditHook(
  app: FastifyInstance,
  c: {
    audit: AuditLog;
    tally: RefusalTally;
    served: ServedModel;
    notes: WeakMap<FastifyRequest, AuditNote>;
    opts: ServeOptions;
  },
): void {
  const { audit, tally, served, notes, opts } = c;
  app.addHook('onResponse', async (req, reply) => {
    if (isPublic(req)) return;
    const n = notes.get(req) ?? {};
    const latencyMs = Math.round(reply.elapsedTime * 10) / 10;
    const row = {
      id: req.id,
      time: new Date().toISOString(),
      client: req.ip,
      method: req.method,
      route: auditRoute(req),
      status: reply.statusCode,
      modelSha256: served.sha256,
      latencyMs,
      ...n,
    };
    if (TALLIED_STATUSES.has(reply.statusCode)) tally.add(row);
    else audit.write(row);
    opts.log?.(
      `${new Date().toISOString()} ${req.ip} ${req.method} ${row.route} ${reply.statusCode} ${latencyMs} ms` +
        (n.probability !== undefined ? ` p=${n.probability.toFixed(3)} ${n.label}` : '') +
        (n.error ? ` ${n.error}` : ''),
    );
  });
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Node's HTTP parser errors, answered as JSON {error, detail} before closing the socket. */
function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are larger than the server accepts']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in time']
        : [400, 'bad_request', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: code, detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** The per-client limiter of @fastify/rate-limit, refusing with our error shape. */
function rateLimitHook(
  app: FastifyInstance,
  perMinute: number,
): (req: FastifyRequest, reply: FastifyReply) => Promise<void> {
  if (!(perMinute > 0)) return async () => undefined;
  return app.rateLimit({
    max: perMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_req, ctx) =>
      new ApiError(
        429,
        'rate_limited',
        `more than ${ctx.max} requests per minute from this client; retry in ${ctx.after}`,
      ),
  }) as (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

function toApiError(err: FastifyError | ApiError): ApiError {
  if (err instanceof ApiError) return err;
  if (!(err instanceof Error)) return new ApiError(500, 'internal_error', 'the server could not process this request');
  const code = (err as FastifyError).code;
  const status = (err as FastifyError).statusCode;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE' || status === 413) {
    return new ApiError(413, 'payload_too_large', `the request body is larger than the limit (${err.message})`);
  }
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || status === 415)
    return new ApiError(415, 'unsupported_media_type', err.message);
  if (status !== undefined && status >= 400 && status < 500) return new ApiError(status, 'bad_request', err.message);
  // Unexpected: no internals to the client; the id finds the audit row.
  return new ApiError(500, 'internal_error', 'the server could not process this request');
}
