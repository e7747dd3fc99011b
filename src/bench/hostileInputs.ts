// What an attacker sends the screening server, for `bench --serve --hostile N`: every
// hostile member of the adversarial corpus (decoder bombs, the header-lie DICOM, truncations:
// data/adversarialCorpus.ts), plus malformed multipart and requests without the token. Each
// is a complete request (body + headers) a hostile client replays.
import { adversarialCorpus } from './adversarialCorpus.js';

export interface HostileRequest {
  name: string;
  body: Buffer;
  headers: Record<string, string>;
  /** Send the right token (so the request reaches the decoders) or not. */
  withToken: boolean;
}

export async function hostileRequests(honest: Buffer): Promise<HostileRequest[]> {
  const octet = { 'content-type': 'application/octet-stream' };
  const b = 'hostile';
  const corpus = (await adversarialCorpus()).filter((c) => !c.name.startsWith('ok-'));
  return [
    ...corpus.map((c) => ({ name: c.name, body: c.bytes, headers: octet, withToken: true })),
    {
      name: 'malformed multipart',
      body: Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"\r\n\r\n`),
      headers: { 'content-type': `multipart/form-data; boundary=${b}` },
      withToken: true,
    },
    { name: 'no token', body: honest, headers: octet, withToken: false },
  ];
}
