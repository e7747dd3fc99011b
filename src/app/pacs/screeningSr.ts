// The screening result as a DICOM Comprehensive SR, filed in the source study: the finding
// screened for (coded: SNOMED CT where the model's task has a code), probability, threshold,
// decision, the model (name, version, weights SHA-256), the disclaimer, and references to the
// source image (what was measured) and the Grad-CAM secondary capture. Standard codes where
// DICOM has them (DCM observer context TID 1004, algorithm identification TID 4019, LOINC report
// title); cxrtune's own under coding scheme 99CXRTUNE. The wording is the model's task's
// (data/task.ts), so a tuberculosis model's SR says tuberculosis.
import { CXRTUNE_SCHEME, type TaskRecord } from '../../data/task.js';
import type { Dataset } from './dicomFile.js';
import { nameUid } from './dicomUid.js';
import { SOP_CLASS, type ResultUids } from './resultUids.js';
import type { SourceHeader } from './sourceHeader.js';

export interface ScreeningFinding {
  probability: number;
  threshold: number;
  positive: boolean;
  /** Class decided (positive class at/above the threshold, else the most likely other). */
  label: string;
  positiveClass: string;
  /** What the model screens for: the finding's name and code, the classes' display names. */
  task: Pick<TaskRecord, 'finding' | 'code' | 'classNames'>;
  /** Every class's probability; with more than two classes the SR holds one NUM item per class. */
  probabilities?: Record<string, number>;
}

export interface ModelIdentity {
  arch: string;
  version: string;
  sha256: string;
  /** cxrtune's version (SoftwareVersions). */
  software: string;
}

const SR_CODES = {
  report: ['18748-4', 'LN', 'Diagnostic imaging report'],
  observerType: ['121005', 'DCM', 'Observer Type'],
  device: ['121007', 'DCM', 'Device'],
  deviceUid: ['121012', 'DCM', 'Device Observer UID'],
  deviceName: ['121013', 'DCM', 'Device Observer Name'],
  deviceManufacturer: ['121014', 'DCM', 'Device Observer Manufacturer'],
  deviceModel: ['121015', 'DCM', 'Device Observer Model Name'],
  algorithmName: ['111001', 'DCM', 'Algorithm Name'],
  algorithmVersion: ['111003', 'DCM', 'Algorithm Version'],
  weightsSha: ['weights-sha256', CXRTUNE_SCHEME, 'Model weights SHA-256'],
  screenedFor: ['screened-for', CXRTUNE_SCHEME, 'Finding screened for'],
  probability: ['probability', CXRTUNE_SCHEME, 'Probability of positive class'],
  threshold: ['threshold', CXRTUNE_SCHEME, 'Decision threshold'],
  decision: ['decision', CXRTUNE_SCHEME, 'Decision'],
  sourceImage: ['121112', 'DCM', 'Source of Measurement'],
  overlay: ['gradcam-overlay', CXRTUNE_SCHEME, 'Grad-CAM overlay'],
  comment: ['121106', 'DCM', 'Comment'],
  noUnits: ['1', 'UCUM', 'no units'],
} as const satisfies Record<string, readonly [string, string, string]>;

export const SR_DISCLAIMER =
  'Decision support, not a diagnosis. A clinician must review every image; this result does not replace reading it.';

const code = ([CodeValue, CodingSchemeDesignator, CodeMeaning]: readonly [string, string, string]) => ({
  CodeValue,
  CodingSchemeDesignator,
  CodeMeaning,
});
const item = (rel: string, type: string, name: readonly [string, string, string], value: Dataset) => ({
  RelationshipType: rel,
  ValueType: type,
  ConceptNameCodeSequence: [code(name)],
  ...value,
});
const text = (rel: string, name: readonly [string, string, string], TextValue: string) =>
  item(rel, 'TEXT', name, { TextValue });
/** DS holds 16 characters; FloatingPointValue (FD) keeps the exact double. */
const num = (name: readonly [string, string, string], v: number, extra: Dataset = {}) =>
  item('CONTAINS', 'NUM', name, {
    MeasuredValueSequence: [
      {
        NumericValue: v.toPrecision(10),
        FloatingPointValue: v,
        MeasurementUnitsCodeSequence: [code(SR_CODES.noUnits)],
      },
    ],
    ...extra,
  });
const imageRef = (rel: string, name: readonly [string, string, string], cls: string, uid: string) =>
  item(rel, 'IMAGE', name, {
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: cls, ReferencedSOPInstanceUID: uid }],
  });

/** DICOM DA and TM of a moment (UTC; the SR says so in TimezoneOffsetFromUTC). */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const iso = d.toISOString(); // 2026-11-26T15:24:42.123Z
  return { date: iso.slice(0, 10).replace(/-/g, ''), time: iso.slice(11, 23).replace(/:/g, '') };
}

export function buildScreeningSr(
  src: SourceHeader,
  f: ScreeningFinding,
  model: ModelIdentity,
  uids: ResultUids,
  now = new Date(),
): Dataset {
  const { date, time } = dicomDateTime(now);
  const finding = f.task.finding;
  const decision = f.positive
    ? `positive: ${finding} (probability ${f.probability.toFixed(3)} >= threshold ${f.threshold})`
    : `negative: ${f.task.classNames[f.label] ?? f.label} (probability of ${finding} ` +
      `${f.probability.toFixed(3)} < threshold ${f.threshold})`;
  const probabilityName = [SR_CODES.probability[0], CXRTUNE_SCHEME, `Probability of ${finding}`] as const;
  const findingCode = [f.task.code.value, f.task.code.scheme, f.task.code.meaning] as const;
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SOP_CLASS.comprehensiveSr,
    SOPInstanceUID: uids.srSop,
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    TimezoneOffsetFromUTC: '+0000',
    ...src.patientStudy,
    StudyInstanceUID: src.studyUid,
    Modality: 'SR',
    SeriesInstanceUID: uids.srSeries,
    SeriesNumber: 9901,
    SeriesDescription: 'cxrtune screening result (decision support)',
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: 'cxrtune',
    ManufacturerModelName: model.arch,
    SoftwareVersions: model.software,
    InstanceNumber: 1,
    ContentDate: date,
    ContentTime: time,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: src.studyUid,
        ReferencedSeriesSequence: [
          {
            SeriesInstanceUID: src.seriesUid,
            ReferencedSOPSequence: [{ ReferencedSOPClassUID: src.sopClassUid, ReferencedSOPInstanceUID: src.sopUid }],
          },
          {
            SeriesInstanceUID: uids.scSeries,
            ReferencedSOPSequence: [
              { ReferencedSOPClassUID: SOP_CLASS.secondaryCapture, ReferencedSOPInstanceUID: uids.scSop },
            ],
          },
        ],
      },
    ],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [code(SR_CODES.report)],
    ContinuityOfContent: 'SEPARATE',
    ContentSequence: [
      item('HAS OBS CONTEXT', 'CODE', SR_CODES.observerType, { ConceptCodeSequence: [code(SR_CODES.device)] }),
      item('HAS OBS CONTEXT', 'UIDREF', SR_CODES.deviceUid, { UID: nameUid('device', model.sha256) }),
      text('HAS OBS CONTEXT', SR_CODES.deviceName, 'cxrtune'),
      text('HAS OBS CONTEXT', SR_CODES.deviceManufacturer, 'cxrtune'),
      text('HAS OBS CONTEXT', SR_CODES.deviceModel, model.arch),
      text('CONTAINS', SR_CODES.algorithmName, `cxrtune ${model.arch}`),
      text('CONTAINS', SR_CODES.algorithmVersion, model.version),
      text('CONTAINS', SR_CODES.weightsSha, model.sha256),
      item('CONTAINS', 'CODE', SR_CODES.screenedFor, { ConceptCodeSequence: [code(findingCode)] }),
      num(probabilityName, f.probability, {
        ContentSequence: [imageRef('INFERRED FROM', SR_CODES.sourceImage, src.sopClassUid, src.sopUid)],
      }),
      ...classProbabilities(f),
      num(SR_CODES.threshold, f.threshold),
      text('CONTAINS', SR_CODES.decision, decision),
      imageRef('CONTAINS', SR_CODES.overlay, SOP_CLASS.secondaryCapture, uids.scSop),
      text('CONTAINS', SR_CODES.comment, SR_DISCLAIMER),
    ],
  };
}

/** More than two classes: the probability of each class other than the positive one, by its name. */
function classProbabilities(f: ScreeningFinding): Dataset[] {
  const entries = Object.entries(f.probabilities ?? {});
  if (entries.length <= 2) return [];
  return entries
    .filter(([c]) => c !== f.positiveClass)
    .map(([c, p]) => num([`probability-${c}`, CXRTUNE_SCHEME, `Probability of ${f.task.classNames[c] ?? c}`], p));
}

/** The probability an SR holds (FloatingPointValue, else NumericValue), for readers and tests. */
export function srProbability(ds: Dataset): number | null {
  for (const it of (ds.ContentSequence ?? []) as Dataset[]) {
    const name = ((it.ConceptNameCodeSequence as Dataset[] | Dataset | undefined) ?? []) as Dataset[] | Dataset;
    const c = (Array.isArray(name) ? name[0] : name) as Dataset | undefined;
    if (
      it.ValueType === 'NUM' &&
      c?.CodeValue === SR_CODES.probability[0] &&
      c?.CodingSchemeDesignator === CXRTUNE_SCHEME
    ) {
      const mvs = it.MeasuredValueSequence as Dataset[] | Dataset;
      const mv = (Array.isArray(mvs) ? mvs[0] : mvs) as Dataset;
      const fp = mv.FloatingPointValue;
      return Number(Array.isArray(fp) ? fp[0] : (fp ?? mv.NumericValue));
    }
  }
  return null;
}
