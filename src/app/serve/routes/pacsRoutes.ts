// STOW-RS on cxrtune's own API (PS3.18 §10.5): POST /api/v1/studies[/{study}] with a
// multipart/related body of application/dicom parts. Each instance is kept in the worklist
// and answered at once (stored / failed, DICOM JSON); screening and sending back follow in
// the PACS service. Under /api/v1, so the token and the audit row apply as for every API route.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../apiError.js';
import { boundaryOf, type Part, parseMultipart } from '../../pacs/multipartRelated.js';
import type { PacsService, StowOutcome } from '../../pacs/pacsService.js';
import { readSourceHeader } from '../../pacs/sourceHeader.js';

/** Failure reasons of PS3.18 Table 10.5.3-3 used here. */
const PROCESSING_FAILURE = 0x0110;
const STUDY_MISMATCH = 0xa900;

function instancesOf(req: FastifyRequest): Buffer[] {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/related/i.test(type)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'STOW-RS takes multipart/related; type="application/dicom" (one DICOM file per part)',
    );
  }
  const boundary = boundaryOf(type);
  if (!boundary) throw new ApiError(400, 'bad_request', 'multipart/related without a boundary parameter');
  const body = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0)
    throw new ApiError(400, 'empty_body', 'the request carried no DICOM instances');
  let parts: Part[];
  try {
    parts = parseMultipart(body, boundary);
  } catch (e) {
    throw new ApiError(400, 'bad_request', (e as Error).message);
  }
  const bad = parts.find(
    (p) =>
      (p.headers['content-type'] ?? 'application/dicom').split(';')[0]!.trim().toLowerCase() !== 'application/dicom',
  );
  if (bad)
    throw new ApiError(
      415,
      'unsupported_media_type',
      `part of type ${bad.headers['content-type']}: only application/dicom parts are accepted`,
    );
  if (!parts.length) throw new ApiError(400, 'empty_body', 'the multipart body holds no parts');
  return parts.map((p) => p.body);
}

const ref = (o: StowOutcome) => ({
  '00081150': { vr: 'UI', Value: [o.sopClassUid] },
  '00081155': { vr: 'UI', Value: [o.sopUid] },
});

export function registerPacsRoutes(app: FastifyInstance, pacs: PacsService): void {
  const handler = async (req: FastifyRequest<{ Params: { study?: string } }>, reply: FastifyReply) => {
    const files = instancesOf(req);
    const study = req.params.study;
    const mismatched: StowOutcome[] = [];
    const wanted = study
      ? files.filter((f) => {
          // The target study is checked on the header alone (cheap) before anything is kept.
          try {
            if (readSourceHeader(f).studyUid === study) return true;
            mismatched.push({ sopClassUid: '', sopUid: '', ok: false, detail: 'instance belongs to another study' });
            return false;
          } catch {
            return true; // unreadable: ingest() reports why
          }
        })
      : files;
    const outcomes = [...pacs.ingest(wanted), ...mismatched];
    const ok = outcomes.filter((o) => o.ok);
    const failed = outcomes.filter((o) => !o.ok);
    const body: Record<string, unknown> = {};
    if (ok.length) body['00081199'] = { vr: 'SQ', Value: ok.map(ref) };
    if (failed.length) {
      body['00081198'] = {
        vr: 'SQ',
        Value: failed.map((o) => ({
          ...ref(o),
          '00081197': { vr: 'US', Value: [o.detail.includes('another study') ? STUDY_MISMATCH : PROCESSING_FAILURE] },
        })),
      };
    }
    // 200 all stored, 202 some failed, 409 none (PS3.18 §10.5.3).
    reply.status(failed.length === 0 ? 200 : ok.length ? 202 : 409).header('content-type', 'application/dicom+json');
    return JSON.stringify(body);
  };
  app.post('/api/v1/studies', handler);
  app.post('/api/v1/studies/:study', handler);
}
