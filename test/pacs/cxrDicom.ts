// Test helper: phantom radiographs as DICOM Part 10 files with the tags a PACS would hold
// (patient, study, series, modality, body part, view), written with dcmjs.
import { generatePhantom } from '../../src/data/phantom.js';
import { writeDicomFile } from '../../src/app/pacs/dicomFile.js';
import { randomUid } from '../../src/app/pacs/dicomUid.js';

interface CxrSpec {
  seed?: number;
  size?: number;
  modality?: string;
  bodyPart?: string;
  view?: string;
  studyUid?: string;
  patientName?: string;
  patientId?: string;
}

export function cxrDicom(s: CxrSpec = {}): { bytes: Buffer; studyUid: string; seriesUid: string; sopUid: string } {
  const size = s.size ?? 256;
  const p = generatePhantom(s.seed ?? 3, 1, { size, label: 'covid' });
  const studyUid = s.studyUid ?? randomUid();
  const seriesUid = randomUid();
  const sopUid = randomUid();
  const modality = s.modality ?? 'CR';
  const bytes = writeDicomFile({
    _vrMap: { PixelData: 'OB' },
    SOPClassUID: modality === 'DX' ? '1.2.840.10008.5.1.4.1.1.1.1' : '1.2.840.10008.5.1.4.1.1.1',
    SOPInstanceUID: sopUid,
    PatientName: s.patientName ?? 'Phantom^Test',
    PatientID: s.patientId ?? 'PHANTOM-0001',
    PatientBirthDate: '19700101',
    PatientSex: 'O',
    StudyInstanceUID: studyUid,
    StudyDate: '20261126',
    StudyTime: '101500',
    StudyID: '1',
    AccessionNumber: 'ACC0001',
    ReferringPhysicianName: '',
    SeriesInstanceUID: seriesUid,
    SeriesNumber: 1,
    InstanceNumber: 1,
    Modality: modality,
    ...(s.bodyPart === '' ? {} : { BodyPartExamined: s.bodyPart ?? 'CHEST' }),
    ...(s.view === '' ? {} : { ViewPosition: s.view ?? 'PA' }),
    ImageType: ['ORIGINAL', 'PRIMARY'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: size,
    Columns: size,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [p.pixels.buffer.slice(p.pixels.byteOffset, p.pixels.byteOffset + p.pixels.byteLength)],
  });
  return { bytes, studyUid, seriesUid, sopUid };
}
