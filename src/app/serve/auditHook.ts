// The server's audit row: one per non-public request with what the route noted (refusals
// tallied instead), and its log line.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from './auditLog.js';
import { type RefusalTally, TALLIED_STATUSES } from './refusalTally.js';
import { auditRoute, isPublic } from './routeAccess.js';
import type { ServeOptions } from './serveOptions.js';
import type { ServedModel } from './servedModel.js';
import type { StudyAuditInfo } from './studyAudit.js';

export type AuditNote = StudyAuditInfo & { error?: string };

/** One audit row per non-public request (refusals tallied instead), and the log line. */
export function addAuditHook(
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
