// The OpenAPI 3.1 description of the REST API, served at /api/v1/openapi.json.
const errorRef = { $ref: '#/components/schemas/Error' };
const err = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });

export function openApiDocument(version: string, tokenRequired: boolean): Record<string, unknown> {
  const security = tokenRequired ? [{ bearer: [] }] : [];
  return {
    openapi: '3.1.0',
    info: {
      title: 'cxrtune screening API',
      version,
      description:
        "Screens a chest radiograph (PNG, JPEG or DICOM) for the model's finding (GET /api/v1/model names it: " +
        'e.g. COVID-19 pneumonia or tuberculosis) with a fine-tuned CNN and returns the probability, the ' +
        "decision at the model's threshold and a Grad-CAM heatmap. Decision support, not a diagnosis.",
    },
    servers: [{ url: '/' }],
    security,
    paths: {
      '/api/v1/screen': {
        post: {
          summary: 'Screen one study',
          description:
            'Send the image as the raw body (any Content-Type, e.g. application/octet-stream or application/dicom) ' +
            'or as the single file of a multipart/form-data form. The format is recognised by its bytes (PNG, ' +
            'JPEG, DICOM Part 10).',
          requestBody: {
            required: true,
            content: {
              'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
              'application/dicom': { schema: { type: 'string', format: 'binary' } },
              'image/png': { schema: { type: 'string', format: 'binary' } },
              'image/jpeg': { schema: { type: 'string', format: 'binary' } },
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  properties: { file: { type: 'string', format: 'binary' } },
                  required: ['file'],
                },
              },
            },
          },
          responses: {
            200: {
              description: 'The result',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ScreenResult' } } },
            },
            400: err('Empty body, malformed multipart/form-data (bad_multipart) or malformed request'),
            401: err('Missing or wrong bearer token'),
            413: err('Body or image larger than the limits'),
            415: err('Not a PNG, JPEG or DICOM file'),
            422: {
              description:
                'Corrupt image, unsupported DICOM transfer syntax, an image too small, or not a frontal chest ' +
                'radiograph (not_frontal_chest_radiograph: the reason and every check, never a score)',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Refusal' } } },
            },
            429: {
              ...err('More requests per minute from this client than the server allows'),
              headers: { 'Retry-After': { schema: { type: 'integer' } } },
            },
            503: {
              ...err("Queue full; retry after the Retry-After header's seconds"),
              headers: { 'Retry-After': { schema: { type: 'integer' } } },
            },
            504: err('The study took longer than the per-request timeout'),
          },
        },
      },
      '/api/v1/model': {
        get: {
          summary: 'The model card',
          responses: {
            200: { description: 'Model card', content: { 'application/json': { schema: { type: 'object' } } } },
            401: err('Missing or wrong bearer token'),
          },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI document' }, 401: err('Missing or wrong bearer token') },
        },
      },
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { 200: { description: '{status: "ok"}' } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'detail'],
          properties: { error: { type: 'string' }, detail: { type: 'string' } },
        },
        Refusal: {
          type: 'object',
          required: ['error', 'detail'],
          properties: {
            error: { type: 'string' },
            detail: { type: 'string' },
            refusal: {
              type: 'object',
              description: 'Only for not_frontal_chest_radiograph: why the image was refused',
              properties: {
                answer: { type: 'string', enum: ['not a frontal chest radiograph'] },
                reason: { type: 'string', description: 'The first failed check, its value and its limit, in words' },
                checks: { type: 'array', items: { $ref: '#/components/schemas/FrontalCheck' } },
              },
            },
          },
        },
        FrontalCheck: {
          type: 'object',
          properties: {
            check: {
              type: 'string',
              enum: [
                'lung-area',
                'lung-area-max',
                'two-fields',
                'side-by-side',
                'level',
                'dark-lungs',
                'feature-distance',
              ],
            },
            value: { type: 'number' },
            limit: { type: 'number' },
            bound: { type: 'string', enum: ['min', 'max'], description: 'value must be ≥ (min) or ≤ (max) limit' },
            passed: { type: 'boolean' },
          },
        },
        ScreenResult: {
          type: 'object',
          required: ['id', 'probability', 'label', 'decision', 'threshold', 'heatmap', 'model', 'timings'],
          properties: {
            id: { type: 'string', description: 'Request id; the audit log row has the same id' },
            probability: { type: 'number', description: 'Probability of the positive class (e.g. tuberculosis)' },
            label: { type: 'string', description: 'Class decided at the threshold' },
            decision: { type: 'string', enum: ['positive', 'negative'] },
            threshold: { type: 'number' },
            positiveClass: { type: 'string' },
            finding: { type: 'string', description: "The finding screened for, in words (the model's task)" },
            probabilities: { type: 'object', additionalProperties: { type: 'number' } },
            heatmapClass: {
              type: 'string',
              description:
                'The class the heatmap explains: the positive class, or with more than two classes the one called',
            },
            format: { type: 'string', enum: ['png', 'jpeg', 'dicom'] },
            sha256: { type: 'string', description: 'SHA-256 of the uploaded bytes' },
            bytes: { type: 'integer' },
            image: { type: 'string', description: 'PNG data URL of the image as the model saw it' },
            heatmap: {
              type: 'string',
              description: 'PNG data URL, RGBA Grad-CAM (alpha = relevance), same size as image',
            },
            lungs: {
              type: ['object', 'null'],
              description:
                'With serve --lungs: the lung field and how much of the Grad-CAM evidence lies in it (null ' +
                'without a segmenter)',
              properties: {
                evidenceInside: {
                  type: ['number', 'null'],
                  description: 'Share of the heatmap inside the lung field (null when no lungs were found)',
                },
                lungArea: {
                  type: 'number',
                  description: 'Lung field as a share of the image (what a uniform heatmap would put inside)',
                },
                warning: {
                  type: ['string', 'null'],
                  description:
                    'Plain-language warning when most evidence lies outside the lungs or no lungs were found',
                },
                outline: { type: 'string', description: 'PNG data URL, RGBA lung outline, same size as image' },
              },
            },
            frontal: {
              type: 'object',
              description: 'The refusal checks this image passed (none without ood.json and --lungs)',
              properties: { checks: { type: 'array', items: { $ref: '#/components/schemas/FrontalCheck' } } },
            },
            model: {
              type: 'object',
              properties: { arch: { type: 'string' }, version: { type: 'string' }, sha256: { type: 'string' } },
            },
            timings: { type: 'object', additionalProperties: { type: 'number' } },
            disclaimer: { type: 'string' },
          },
        },
      },
    },
  };
}
