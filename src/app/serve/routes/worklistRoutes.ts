// The worklist: GET /api/v1/worklist (screened instances, likely positives first, with
// status and why), GET /api/v1/worklist/:id and its Grad-CAM overlay PNG; the page at
// /worklist with its script (static files, same CSP as the main page: no inline script).
// Items are named by a pseudonymous id; no UID or patient attribute leaves through here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../apiError.js';
import type { PacsService } from '../../pacs/pacsService.js';
import type { WorklistItem } from '../../pacs/worklistStore.js';
import { PUBLIC_DIR } from './pageRoutes.js';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/** The page routes here that need no token (the lead's public-route list must name them). */
export const WORKLIST_PUBLIC_ROUTES = ['/worklist', '/assets/worklist.js'] as const;

function view(it: WorklistItem, pacsBase: string | null) {
  return {
    id: it.id,
    source: it.source,
    status: it.status,
    reason: it.reason,
    receivedAt: it.receivedAt,
    screenedAt: it.screenedAt,
    sentAt: it.sentAt,
    modality: it.modality,
    view: it.view,
    probability: it.probability,
    label: it.label,
    decision: it.decision,
    threshold: it.threshold,
    /** From arrival in cxrtune to the results stored in the PACS. */
    latencyMs: it.sentMs !== null ? it.sentMs - it.arrivedMs : null,
    links: {
      self: `/api/v1/worklist/${it.id}`,
      ...(it.screenedAt ? { overlay: `/api/v1/worklist/${it.id}/overlay.png` } : {}),
      // Orthanc's own viewer for the source instance (the SR and overlay sit in its study).
      ...(pacsBase && it.orthancId ? { pacs: `${pacsBase}/app/explorer.html#instance?uuid=${it.orthancId}` } : {}),
    },
  };
}

export function registerWorklistRoutes(app: FastifyInstance, pacs: PacsService): void {
  const base = pacs.client?.base ?? null;
  app.get('/api/v1/worklist', async () => {
    const items = pacs.store.list().map((it) => view(it, base));
    return { pacs: base, finding: pacs.task.finding, counts: pacs.store.counts(), items };
  });
  app.get<{ Params: { id: string } }>('/api/v1/worklist/:id', async (req) => {
    const it = /^[0-9a-f]{24}$/.test(req.params.id) ? pacs.store.get(req.params.id) : null;
    if (!it) throw new ApiError(404, 'not_found', 'no worklist item with this id');
    return view(it, base);
  });
  app.get<{ Params: { id: string } }>('/api/v1/worklist/:id/overlay.png', async (req, reply) => {
    const png = /^[0-9a-f]{24}$/.test(req.params.id) ? pacs.store.blob(req.params.id, 'overlay_png') : null;
    if (!png) throw new ApiError(404, 'not_found', 'no overlay for this id (not screened yet, or unknown)');
    return reply.header('content-type', 'image/png').send(png);
  });

  const page = readFileSync(join(PUBLIC_DIR, 'worklist.html'));
  const script = readFileSync(join(PUBLIC_DIR, 'worklist.js'));
  app.get('/worklist', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .send(page),
  );
  app.get('/assets/worklist.js', async (_req, reply) =>
    reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(script),
  );
}
