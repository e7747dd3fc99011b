// What cxrtune needs from a source instance: its UIDs, the tags the chest filter checks, and
// the patient and study attributes the results must carry to be filed in the same study.
// The latter are used to write the SR and the secondary capture, never logged or stored.
import { readDicomFile, str, strs, type Dataset } from './dicomFile.js';
import type { FilterTags } from './chestFilter.js';

export interface SourceHeader extends FilterTags {
  studyUid: string;
  seriesUid: string;
  sopUid: string;
  sopClassUid: string;
  /** Patient and General Study module attributes copied into the results. */
  patientStudy: Dataset;
}

const PATIENT_STUDY_KEYWORDS = [
  'PatientName',
  'PatientID',
  'IssuerOfPatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyInstanceUID',
  'StudyDate',
  'StudyTime',
  'StudyID',
  'AccessionNumber',
  'ReferringPhysicianName',
  'StudyDescription',
] as const;

function sourceHeaderOf(ds: Dataset): SourceHeader {
  const h: SourceHeader = {
    studyUid: str(ds, 'StudyInstanceUID'),
    seriesUid: str(ds, 'SeriesInstanceUID'),
    sopUid: str(ds, 'SOPInstanceUID'),
    sopClassUid: str(ds, 'SOPClassUID'),
    modality: str(ds, 'Modality'),
    bodyPart: str(ds, 'BodyPartExamined'),
    view: str(ds, 'ViewPosition'),
    imageType: strs(ds, 'ImageType'),
    patientStudy: {},
  };
  for (const k of PATIENT_STUDY_KEYWORDS) if (ds[k] !== undefined) h.patientStudy[k] = ds[k];
  for (const [k, v] of Object.entries({
    StudyInstanceUID: h.studyUid,
    SeriesInstanceUID: h.seriesUid,
    SOPInstanceUID: h.sopUid,
    SOPClassUID: h.sopClassUid,
  })) {
    if (!v) throw new Error(`DICOM instance without ${k}`);
  }
  return h;
}

/** Reads the header of Part 10 bytes (stops before the pixel data). */
export function readSourceHeader(bytes: Uint8Array): SourceHeader {
  return sourceHeaderOf(readDicomFile(bytes, { header: true }));
}

/** The filter tags from a QIDO-RS / WADO-RS metadata answer (DICOM JSON model). */
export function filterTagsFromJson(
  j: Record<string, { Value?: unknown[] }>,
): FilterTags & { studyUid: string; seriesUid: string; sopUid: string } {
  const v = (tag: string) => (j[tag]?.Value ?? []).map((x) => String(x).trim());
  return {
    modality: v('00080060')[0] ?? '',
    bodyPart: v('00180015')[0] ?? '',
    view: v('00185101')[0] ?? '',
    imageType: v('00080008').map((s) => s.toUpperCase()),
    studyUid: v('0020000D')[0] ?? '',
    seriesUid: v('0020000E')[0] ?? '',
    sopUid: v('00080018')[0] ?? '',
  };
}
