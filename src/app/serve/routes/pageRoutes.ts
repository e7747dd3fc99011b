// The web page: three static files read once at start-up from src/app/serve/public/ (no CDN,
// no build step), served with a strict Content-Security-Policy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { projectRoot } from '../../../engine/native.js';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export const PUBLIC_DIR = join(projectRoot(), 'src', 'app', 'serve', 'public');

export function registerPageRoutes(app: FastifyInstance): void {
  const files: Array<[string, string, string]> = [
    ['/', 'index.html', 'text/html; charset=utf-8'],
    ['/assets/app.js', 'app.js', 'text/javascript; charset=utf-8'],
    ['/assets/app.css', 'app.css', 'text/css; charset=utf-8'],
  ];
  for (const [url, file, type] of files) {
    const body = readFileSync(join(PUBLIC_DIR, file));
    app.get(url, async (_req, reply) => {
      reply.header('content-type', type).header('cache-control', 'no-cache');
      if (file.endsWith('.html')) reply.header('content-security-policy', CSP);
      return reply.send(body);
    });
  }
}
