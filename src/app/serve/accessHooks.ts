// Who may call the server: settings that would expose patient images refused, security
// headers on every reply, then (off the public routes) the per-client rate limit and the token check.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './apiError.js';
import { isLoopbackHost } from './loopback.js';
import { isPublic } from './routeAccess.js';
import { tokenProblem } from './tokenCheck.js';

/** Refuses settings that would expose patient images (no token off loopback, weak token). */
export function checkExposure(host: string, token: string | undefined): void {
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

/**
 * Security headers, then (off the public routes) the rate limit and the token check. Access is decided on the route the
 * router matched (routeAccess.ts), whatever the encoding.
 */
export function addAccessHook(
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

/** The per-client limiter of @fastify/rate-limit, refusing with our error shape. */
export function rateLimitHook(
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
