// GET /healthz (open: liveness for a load balancer, no model details), GET /api/v1/model
// (the model card) and GET /api/v1/openapi.json.
import type { FastifyInstance } from 'fastify';
import type { ModelCard } from '../modelCard.js';
import type { StudyQueue } from '../studyQueue.js';

export function registerInfoRoutes(
  app: FastifyInstance,
  card: ModelCard,
  openapi: Record<string, unknown>,
  queue: StudyQueue,
): void {
  app.get('/healthz', async () => {
    const q = queue.stats();
    return { status: 'ok', queue: { inFlight: q.inFlight, capacity: q.capacity } };
  });
  app.get('/api/v1/model', async () => card);
  app.get('/api/v1/openapi.json', async () => openapi);
}
