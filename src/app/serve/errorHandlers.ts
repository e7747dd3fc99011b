// The server's error replies: every error as {error, detail} (noted for the audit row), the
// framework's errors mapped to our codes (413, 415, 400, else a bare 500), unknown routes as not_found.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../util/errorMessage.js';
import { ApiError } from './apiError.js';
import type { AuditNote } from './auditHook.js';
import { probedPath } from './routeAccess.js';
import type { ServeOptions } from './serveOptions.js';

/** Every error as {error, detail} (noted for the audit row); unknown routes as not_found. */
export function setErrorHandlers(
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
