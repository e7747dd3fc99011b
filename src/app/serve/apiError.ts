// The one error shape of the API: HTTP status + {error: machine code, detail: sentence}.
// Only ApiErrors carry their detail to the client; anything else is a 500 without internals.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'ApiError';
  }

  body(): { error: string; detail: string } {
    return { error: this.code, detail: this.message };
  }
}
