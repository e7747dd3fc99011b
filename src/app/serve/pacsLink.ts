// Attaches the PACS link to the screening server (one call from buildServer): the service
// (follower, worker, retry queue) and its routes (STOW-RS, the worklist API and page).
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from './auditLog.js';
import type { ServedModel } from './servedModel.js';
import type { StudyQueue } from './studyQueue.js';
import { PacsService } from '../pacs/pacsService.js';
import type { PacsOptions } from '../pacs/pacsOptions.js';
import { registerPacsRoutes } from './routes/pacsRoutes.js';
import { registerWorklistRoutes } from './routes/worklistRoutes.js';

export function attachPacs(
  app: FastifyInstance,
  deps: { served: ServedModel; queue: StudyQueue; audit: AuditLog; software: string; log?: (l: string) => void },
  opts: PacsOptions,
): PacsService {
  const pacs = new PacsService(deps, opts);
  registerPacsRoutes(app, pacs);
  registerWorklistRoutes(app, pacs);
  return pacs;
}
