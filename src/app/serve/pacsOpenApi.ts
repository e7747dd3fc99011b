// The PACS link's routes in the OpenAPI document (added only when the link is on).
const errorRef = { $ref: '#/components/schemas/Error' };
const err = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });
const dicomJson = (description: string) => ({
  description,
  content: { 'application/dicom+json': { schema: { type: 'object' } } },
});
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{24}$' } };

const stow = (withStudy: boolean) => ({
  post: {
    summary: withStudy ? 'STOW-RS: store instances of one study' : 'STOW-RS: store instances',
    description:
      'DICOM Part 10 files as the parts of a multipart/related; type="application/dicom" body. Each is kept in the ' +
      'worklist and screened if it is a frontal chest CR/DX; with a PACS configured, the SR and the Grad-CAM ' +
      'secondary capture are stored there.',
    ...(withStudy ? { parameters: [{ name: 'study', in: 'path', required: true, schema: { type: 'string' } }] } : {}),
    requestBody: { required: true, content: { 'multipart/related': { schema: { type: 'string', format: 'binary' } } } },
    responses: {
      200: dicomJson('All kept: ReferencedSOPSequence (0008,1199)'),
      202: dicomJson('Some kept; FailedSOPSequence (0008,1198) with FailureReason (0008,1197) for the others'),
      409: dicomJson('None kept (0110 unreadable, A900 another study than the URL names)'),
      400: err('No boundary, or a malformed multipart body'),
      401: err('Missing or wrong bearer token'),
      415: err('Not multipart/related, or a part that is not application/dicom'),
    },
  },
});

const PACS_OPENAPI_PATHS: Record<string, unknown> = {
  '/api/v1/studies': stow(false),
  '/api/v1/studies/{study}': stow(true),
  '/api/v1/worklist': {
    get: {
      summary: 'The worklist: instances from the PACS or STOW-RS, likely positives first',
      responses: {
        200: {
          description: '{pacs, counts, items: [{id, status, reason, probability, decision, …, links}]}',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        401: err('Missing or wrong bearer token'),
      },
    },
  },
  '/api/v1/worklist/{id}': {
    get: {
      summary: 'One worklist item',
      parameters: [idParam],
      responses: { 200: { description: 'The item' }, 404: err('Unknown id') },
    },
  },
  '/api/v1/worklist/{id}/overlay.png': {
    get: {
      summary: 'The Grad-CAM overlay of a screened item',
      parameters: [idParam],
      responses: {
        200: { description: 'PNG', content: { 'image/png': {} } },
        404: err('Unknown id or not screened yet'),
      },
    },
  },
};

/** The document with the PACS routes added when the link is on. */
export function withPacsPaths(doc: Record<string, unknown>, on: boolean): Record<string, unknown> {
  if (!on) return doc;
  return { ...doc, paths: { ...(doc.paths as Record<string, unknown>), ...PACS_OPENAPI_PATHS } };
}
