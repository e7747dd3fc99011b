// The screening server: Fastify with the API, the page, token auth, the audit log and the
// bounded study queue. buildServer() wires everything without listening (tests inject);
// listen() also listens. Secure by default: off loopback it will not start without a token;
// every route but the page and /healthz needs the token, is rate-limited per client and
// leaves an audit row (decided on the matched route: routeAccess.ts); only PNG/JPEG/DICOM
// bytes are accepted, bodies and pixels are bounded; every error is {error, detail}.
// Beside it: fastifyApp (the instance), accessHooks, errorHandlers and auditHook.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { packageVersion } from '../../engine/native.js';
import { DEFAULT_MAX_STUDY_PIXELS, preprocessOf } from './screen.js';
import { addAccessHook, checkExposure, rateLimitHook } from './accessHooks.js';
import { addAuditHook, type AuditNote } from './auditHook.js';
import { AuditLog } from './auditLog.js';
import { setErrorHandlers } from './errorHandlers.js';
import { createApp, registerBodyParsers } from './fastifyApp.js';
import { modelCard } from './modelCard.js';
import { openApiDocument } from './openapi.js';
import { attachPacs } from './pacsLink.js';
import { withPacsPaths } from './pacsOpenApi.js';
import type { PacsService } from '../pacs/pacsService.js';
import { registerInfoRoutes } from './routes/infoRoutes.js';
import { registerPageRoutes } from './routes/pageRoutes.js';
import { registerScreenRoute } from './routes/screenRoute.js';
import { RefusalTally } from './refusalTally.js';
import { SERVE_DEFAULTS, type ServeOptions } from './serveOptions.js';
import type { ServedModel } from './servedModel.js';
import { StudyQueue } from './studyQueue.js';
import { makeTokenCheck } from './tokenCheck.js';

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

export async function buildServer(served: ServedModel, opts: ServeOptions = {}): Promise<Server> {
  const host = opts.host ?? SERVE_DEFAULTS.host;
  const port = opts.port ?? SERVE_DEFAULTS.port;
  const token = opts.token === '' ? undefined : opts.token;
  checkExposure(host, token);
  const bodyLimit = opts.bodyLimit ?? SERVE_DEFAULTS.bodyLimit;
  const timeoutMs = opts.timeoutMs ?? SERVE_DEFAULTS.timeoutMs;
  const pre = preprocessOf(served.meta, opts.maxPixels ?? DEFAULT_MAX_STUDY_PIXELS, undefined, served.lungs);
  const queue = new StudyQueue(served.model, served.meta, pre, opts.queue, served.ood);
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
