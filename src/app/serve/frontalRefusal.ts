// The refusal of what is not a frontal chest radiograph, on the serving path (the API, the page,
// the PACS link and `cxrtune ood check` all go through it): the lung-field checks on the
// segmenter's mask as soon as the study is decoded (a refused study never reaches the engine),
// the feature distance once the model has run. A refused study raises StudyRefusedError, which
// carries the verdict and no score.
import { frontalVerdict, type FrontalVerdict, NOT_FRONTAL, type OodRecord } from '../../recipe/frontalCheck.js';
import type { PreparedStudy, StudyInference } from './screen.js';

export class StudyRefusedError extends Error {
  constructor(readonly verdict: FrontalVerdict) {
    super(`${NOT_FRONTAL}: ${verdict.reason}`);
    this.name = 'StudyRefusedError';
  }
}

/** The verdict on a prepared study, before (inf absent: mask checks only) or after the model ran. */
export function studyVerdict(record: OodRecord | null, study: PreparedStudy, inf?: StudyInference): FrontalVerdict {
  return frontalVerdict(record, study.lungShape ?? null, inf ? inf.features : null);
}

/** Throws StudyRefusedError when the study is refused; returns the verdict otherwise. */
export function refuseUnlessFrontal(
  record: OodRecord | null,
  study: PreparedStudy,
  inf?: StudyInference,
): FrontalVerdict {
  const v = studyVerdict(record, study, inf);
  if (!v.frontal) throw new StudyRefusedError(v);
  return v;
}
