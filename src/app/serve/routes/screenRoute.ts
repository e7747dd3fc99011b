// POST /api/v1/screen: the body (raw, or one multipart file) → the bounded queue → JSON.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { StudyInputError, type StudyInputProblem } from '../screen.js';
import { StudyRefusedError } from '../frontalRefusal.js';
import { NOT_FRONTAL } from '../../../recipe/frontalCheck.js';
import { ApiError } from '../apiError.js';
import { errorMessage } from '../../../util/errorMessage.js';
import { DISCLAIMER } from '../modelCard.js';
import { taskOfModel } from '../../../data/task.js';
import type { ServedModel } from '../servedModel.js';
import { AbortedError, type QueuedResult, QueueFullError, type StudyQueue } from '../studyQueue.js';
import type { StudyAuditInfo } from '../studyAudit.js';

const STATUS: Record<StudyInputProblem, [number, string]> = {
  empty: [400, 'empty_body'],
  unsupported_type: [415, 'unsupported_media_type'],
  too_large: [413, 'image_too_large'],
  too_small: [422, 'image_too_small'],
  corrupt: [422, 'corrupt_image'],
  unsupported_dicom: [422, 'unsupported_dicom'],
};

interface ScreenRouteDeps {
  served: ServedModel;
  queue: StudyQueue;
  timeoutMs: number;
  bodyLimit: number;
  /** Where the handler leaves what the audit row needs. */
  note: (req: FastifyRequest, info: StudyAuditInfo) => void;
}

const round = (x: number) => Math.round(x * 10) / 10;
const dataUrl = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

async function bodyBytes(req: FastifyRequest, bodyLimit: number): Promise<Buffer> {
  if (req.isMultipart()) {
    try {
      const part = await req.file({ limits: { fileSize: bodyLimit, files: 1 } });
      if (!part) throw new ApiError(400, 'empty_body', 'the multipart form carried no file');
      return await part.toBuffer();
    } catch (e) {
      throw multipartError(e);
    }
  }
  const b = req.body;
  if (b === undefined || b === null) return Buffer.alloc(0);
  if (!Buffer.isBuffer(b)) throw new ApiError(400, 'bad_request', 'unreadable request body');
  return b;
}

/**
 * A broken multipart body (no boundary, a part cut short, bad headers) is the client's
 * fault: busboy throws plain Errors for those, which used to become 500s with a stack trace.
 */
function multipartError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const status = (e as { statusCode?: unknown })?.statusCode;
  if (status === 413)
    return new ApiError(413, 'payload_too_large', `the uploaded file is larger than the limit (${errorMessage(e)})`);
  return new ApiError(400, 'bad_multipart', `malformed multipart/form-data body: ${errorMessage(e)}`);
}

/**
 * 422 with the reason and every check's value and limit, and no score: an image that is not a
 * frontal chest radiograph gets no probability, whatever the model would say.
 */
export function refusalError(e: StudyRefusedError): ApiError {
  return new ApiError(
    422,
    'not_frontal_chest_radiograph',
    e.message,
    {},
    {
      refusal: { answer: NOT_FRONTAL, reason: e.verdict.reason, checks: e.verdict.checks },
      disclaimer: DISCLAIMER,
    },
  );
}

export function registerScreenRoute(app: FastifyInstance, d: ScreenRouteDeps): void {
  const { served, queue } = d;
  app.post('/api/v1/screen', async (req, reply) => {
    const t0 = performance.now();
    const bytes = await bodyBytes(req, d.bodyLimit);
    // Hashed here too so refused inputs are traceable in the audit log.
    const sha256 = bytes.length ? createHash('sha256').update(bytes).digest('hex') : undefined;
    d.note(req, { sizeBytes: bytes.length, ...(sha256 ? { imageSha256: sha256 } : {}) });
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new ApiError(504, 'timeout', `the study took longer than ${d.timeoutMs} ms`));
      }, d.timeoutMs);
    });
    const work = queue.submit(bytes, ac.signal);
    work.catch(() => undefined); // settled after a timeout: nobody awaits it any more
    let r: QueuedResult;
    try {
      r = await Promise.race([work, timeout]);
    } catch (e) {
      if (e instanceof StudyInputError) {
        const [status, code] = STATUS[e.problem];
        throw new ApiError(status, code, e.message);
      }
      if (e instanceof StudyRefusedError) throw refusalError(e);
      if (e instanceof QueueFullError)
        throw new ApiError(503, 'busy', e.message, { 'retry-after': String(e.retryAfterS) });
      if (e instanceof AbortedError) throw new ApiError(504, 'timeout', `the study took longer than ${d.timeoutMs} ms`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const m = served.meta;
    const lungs = served.lungs ? await served.lungs.explain(r.study.input, r.heat) : null;
    d.note(req, {
      sizeBytes: bytes.length,
      imageSha256: r.study.sha256,
      format: r.study.format,
      probability: r.probability,
      label: r.label,
      threshold: r.threshold,
    });
    reply.header('cache-control', 'no-store');
    return {
      id: req.id,
      probability: r.probability,
      label: r.label,
      decision: r.positive ? 'positive' : 'negative',
      threshold: r.threshold,
      positiveClass: m.classes[m.positiveClass],
      finding: taskOfModel(m).finding,
      probabilities: Object.fromEntries(m.classes.map((c, i) => [c, r.probabilities[i]])),
      heatmapClass: m.classes[r.camClass],
      format: r.study.format,
      sha256: r.study.sha256,
      bytes: r.study.bytes,
      image: dataUrl(r.imagePng),
      heatmap: dataUrl(r.heatmapPng),
      lungs: lungs
        ? {
            evidenceInside: lungs.insideShare,
            lungArea: lungs.lungArea,
            warning: lungs.warning,
            outline: dataUrl(lungs.outlinePng),
          }
        : null,
      frontal: { checks: r.frontal.checks },
      model: { arch: m.arch, version: served.version, sha256: served.sha256 },
      timings: {
        decodeMs: round(r.timings.decodeMs),
        queueMs: round(r.timings.queueMs),
        inferMs: round(r.timings.inferMs),
        renderMs: round(r.timings.renderMs),
        totalMs: round(performance.now() - t0),
        batch: r.timings.batch,
      },
      disclaimer: DISCLAIMER,
    };
  });
}
