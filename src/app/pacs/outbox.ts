// Results waiting for the PACS, packed into one blob for the worklist row: a count, then
// each DICOM file as <u32 length><bytes>.
export function packFiles(files: Buffer[]): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(files.length);
  return Buffer.concat([
    head,
    ...files.flatMap((f) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(f.length);
      return [len, f];
    }),
  ]);
}

export function unpackFiles(blob: Buffer): Buffer[] {
  const n = blob.readUInt32LE(0);
  const out: Buffer[] = [];
  let o = 4;
  for (let i = 0; i < n; i++) {
    const len = blob.readUInt32LE(o);
    out.push(blob.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  if (o !== blob.length) throw new Error('corrupt outbox blob');
  return out;
}
