// The UIDs of the results for one source instance and one model (see dicomUid.ts): one SR
// series and one secondary-capture series per study and model, one instance of each per
// source instance. Deterministic, so re-screening stores nothing new.
import { nameUid } from './dicomUid.js';

export interface ResultUids {
  srSeries: string;
  srSop: string;
  scSeries: string;
  scSop: string;
}

export function resultUids(studyUid: string, sopUid: string, modelSha256: string): ResultUids {
  return {
    srSeries: nameUid('sr-series', studyUid, modelSha256),
    srSop: nameUid('sr', sopUid, modelSha256),
    scSeries: nameUid('sc-series', studyUid, modelSha256),
    scSop: nameUid('sc', sopUid, modelSha256),
  };
}

export const SOP_CLASS = {
  comprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
} as const;
