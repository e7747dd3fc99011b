// The server's Fastify instance: bounded bodies and upload time, our request ids, the router's
// and the HTTP parser's refusals in our {error, detail} shape, and every body taken as bytes.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import multipart from '@fastify/multipart';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { AuditLog } from './auditLog.js';
import { auditRoute } from './routeAccess.js';
import type { ServedModel } from './servedModel.js';

/** The Fastify instance: bounded bodies and upload time, our request ids, framework and parser errors in our shape. */
export function createApp(served: ServedModel, audit: AuditLog, bodyLimit: number, timeoutMs: number): FastifyInstance {
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
export async function registerBodyParsers(app: FastifyInstance, bodyLimit: number): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
  await app.register(multipart, {
    limits: { fileSize: bodyLimit, files: 1, fields: 10, parts: 11, fieldSize: 4096, headerPairs: 100 },
  });
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
