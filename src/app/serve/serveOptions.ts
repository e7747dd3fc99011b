// Settings of `cxrtune serve`, with the secure defaults in one place.
import type { QueueOptions } from './studyQueue.js';
import type { PacsOptions } from '../pacs/pacsOptions.js';

export interface ServeOptions {
  host?: string;
  port?: number;
  /** Bearer token; required when host is not loopback. */
  token?: string;
  /** SQLite audit log file (default audit.sqlite). */
  db?: string;
  /** Request body limit in bytes (default 32 MB). */
  bodyLimit?: number;
  /** Pixel-count limit per image (default 25 Mpx). */
  maxPixels?: number;
  /** Per-request processing timeout in ms (default 30 s). */
  timeoutMs?: number;
  queue?: QueueOptions;
  /** Requests per minute per client on non-public routes (0 = no limit; default 600). */
  rateLimit?: number;
  /** Link to a PACS (Orthanc follower, STOW-RS, worklist); off when absent. */
  pacs?: PacsOptions;
  /** One line per API request (the CLI prints them; tests pass nothing). */
  log?: (line: string) => void;
}

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  db: 'audit.sqlite',
  bodyLimit: 32 * 1024 * 1024,
  timeoutMs: 30_000,
  rateLimit: 600,
} as const;
