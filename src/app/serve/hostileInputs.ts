// What an attacker sends the screening server, for `bench --serve --hostile N`: decoder
// bombs (a DICOM whose header says 64×64 around a 16000×16000 JPEG, a PNG that inflates to
// 16000×16000), truncated files, garbage, malformed multipart, and requests without or with
// a wrong token. Each is a complete request (body + headers) a hostile client replays.
import sharp from 'sharp';
import { encodeDicom } from '../../data/dicomWriter.js';

export interface HostileRequest {
  name: string;
  body: Buffer;
  headers: Record<string, string>;
  /** Send the right token (so the request reaches the decoders) or not. */
  withToken: boolean;
}

const BOMB_SIDE = 16_000;

/** One flat-grey image of side × side, compressed (a few hundred KB at most). */
async function bomb(format: 'png' | 'jpeg', side = BOMB_SIDE): Promise<Buffer> {
  const img = sharp({ create: { width: side, height: side, channels: 3, background: { r: 128, g: 128, b: 128 } }, limitInputPixels: false }).grayscale();
  return format === 'png' ? img.png({ compressionLevel: 9 }).toBuffer() : img.jpeg({ quality: 50 }).toBuffer();
}

export async function hostileRequests(honest: Buffer): Promise<HostileRequest[]> {
  const [pngBomb, jpegBomb] = await Promise.all([bomb('png'), bomb('jpeg')]);
  const octet = { 'content-type': 'application/octet-stream' };
  const b = 'hostile';
  return [
    { name: 'header-lie DICOM (64×64 header, 16000×16000 JPEG)', body: encodeDicom({ rows: 64, columns: 64, frame: jpegBomb }), headers: octet, withToken: true },
    { name: 'PNG bomb (16000×16000)', body: pngBomb, headers: octet, withToken: true },
    { name: 'JPEG bomb (16000×16000)', body: jpegBomb, headers: octet, withToken: true },
    { name: 'truncated PNG', body: honest.subarray(0, Math.floor(honest.length / 3)), headers: octet, withToken: true },
    { name: 'DICOM with short pixel data', body: encodeDicom({ rows: 512, columns: 512, bitsAllocated: 16, truncate: 300_000 }), headers: octet, withToken: true },
    { name: 'garbage', body: Buffer.from('GIF89a' + 'x'.repeat(4000)), headers: octet, withToken: true },
    { name: 'malformed multipart', body: Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"\r\n\r\n`), headers: { 'content-type': `multipart/form-data; boundary=${b}` }, withToken: true },
    { name: 'no token', body: honest, headers: octet, withToken: false },
  ];
}
