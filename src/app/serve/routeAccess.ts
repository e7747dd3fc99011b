// Who may call what, decided on the route the router MATCHED, never on the raw URL. The old
// hook tested `req.url.startsWith('/api/')` while the router decodes the path, so
// `/%61pi/v1/screen` ran the model with no token and no audit row. Deny by default: a route
// is open only if it is listed here; everything else (every API route, routes added later,
// and requests that match nothing) needs the token and leaves an audit row.
import type { FastifyRequest } from 'fastify';
import { WORKLIST_PUBLIC_ROUTES } from './routes/worklistRoutes.js';

/**
 * The only routes anyone may call: the pages (screening, PACS worklist) and their static
 * assets, which hold no data — the worklist page fetches its rows from /api/v1/worklist with
 * the token — and liveness.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  '/',
  '/assets/app.js',
  '/assets/app.css',
  ...WORKLIST_PUBLIC_ROUTES,
  '/healthz',
]);

/** The route pattern the router matched, or null when nothing matched (404, bad URL). */
function matchedRoute(req: FastifyRequest): string | null {
  // routeOptions.url is the registered pattern; the 404 handler has none.
  const url = req.routeOptions?.url;
  return typeof url === 'string' && req.is404 !== true ? url : null;
}

export function isPublic(req: FastifyRequest): boolean {
  const r = matchedRoute(req);
  return r !== null && PUBLIC_ROUTES.has(r);
}

/**
 * What the audit row names as the route: the matched pattern; for a request that matched
 * nothing, what was probed (path only, no query string, at most 120 characters).
 */
export function auditRoute(req: FastifyRequest): string {
  return matchedRoute(req) ?? `(no route) ${probedPath(req.url)}`;
}

export function probedPath(url: string): string {
  const p = url.split('?')[0] ?? '';
  return p.length > 120 ? `${p.slice(0, 120)}…` : p;
}
