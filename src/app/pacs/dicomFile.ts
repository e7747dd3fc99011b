// DICOM Part 10 bytes ↔ naturalised datasets (keyword → value), through dcmjs.
import dcmjs from 'dcmjs';
import { IMPLEMENTATION_CLASS_UID } from './dicomUid.js';

const { DicomDict, DicomMessage, DicomMetaDictionary } = dcmjs.data;
export type Dataset = Record<string, unknown>;

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** Writes a dataset (with SOPClassUID and SOPInstanceUID) as Explicit VR Little Endian Part 10. */
export function writeDicomFile(ds: Dataset): Buffer {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'CXRTUNE',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return Buffer.from(dict.write());
}

/** Parses Part 10 bytes; `header` stops before the pixel data (tags only, cheap). */
export function readDicomFile(bytes: Uint8Array, opts: { header?: boolean } = {}): Dataset {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let dict: ReturnType<typeof DicomMessage.readFile>;
  try {
    dict = DicomMessage.readFile(ab, opts.header ? { untilTag: '7FE00010', includeUntilTagValue: false } : {});
  } catch (e) {
    throw new Error(`not a readable DICOM file (${e instanceof Error ? e.message : String(e)})`);
  }
  return DicomMetaDictionary.naturalizeDataset(dict.dict);
}

/** First value of a naturalised attribute as a trimmed string ('' when absent). */
export function str(ds: Dataset, keyword: string): string {
  const v = ds[keyword];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return '';
  if (typeof first === 'object' && 'Alphabetic' in (first as object))
    return String((first as { Alphabetic: string }).Alphabetic).trim();
  return String(first).trim();
}

/** All values of a multi-valued attribute (ImageType) as upper-case strings. */
export function strs(ds: Dataset, keyword: string): string[] {
  const v = ds[keyword];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : String(v).split('\\')).map((x) => String(x).trim().toUpperCase());
}
