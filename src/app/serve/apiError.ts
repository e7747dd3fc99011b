// The one error shape of the API: HTTP status + {error: machine code, detail: sentence} (+ a few
// named fields where the code has more to say, e.g. a refusal's checks).
// Only ApiErrors carry their detail to the client; anything else is a 500 without internals.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly headers: Record<string, string> = {},
    /** Fields beside error and detail (a refusal's checks). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'ApiError';
  }

  body(): { error: string; detail: string } {
    return { error: this.code, detail: this.message, ...this.extra };
  }
}
