// What an uploaded file is, from its first bytes (never its name or declared type): the screening
// server and the in-browser page accept the same three formats.
export type StudyFormat = 'png' | 'jpeg' | 'dicom';

/** Recognises the format by its magic bytes; never by name or declared type. */
export function sniffFormat(buf: Uint8Array): StudyFormat | null {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length >= 8 && png.every((b, i) => buf[i] === b)) return 'png';
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  // DICOM Part 10: 128-byte preamble then 'DICM'.
  if (buf.length >= 132 && buf[128] === 0x44 && buf[129] === 0x49 && buf[130] === 0x43 && buf[131] === 0x4d)
    return 'dicom';
  return null;
}
