// Which incoming instances the model is for: frontal (PA/AP) chest radiographs, CR or DX,
// original images. Decided from the DICOM tags alone, before any pixel data is fetched;
// anything else is skipped with the reason, so the worklist says why nothing was screened.

export interface FilterTags {
  modality: string;
  bodyPart: string;
  view: string;
  imageType: string[];
}

const SCREENED_MODALITIES = ['CR', 'DX'] as const;
/** BodyPartExamined values meaning the chest (DICOM defined term CHEST; some vendors send THORAX). */
const CHEST_BODY_PARTS = ['CHEST', 'THORAX'] as const;
const FRONTAL_VIEWS = ['PA', 'AP'] as const;

/** null when the instance is to be screened, else why not (one line). */
export function skipReason(t: FilterTags): string | null {
  const modality = t.modality.toUpperCase();
  if (!(SCREENED_MODALITIES as readonly string[]).includes(modality))
    return `modality ${modality || '(none)'} is not CR or DX`;
  const part = t.bodyPart.toUpperCase();
  if (!part) return 'BodyPartExamined is missing (need CHEST)';
  if (!(CHEST_BODY_PARTS as readonly string[]).includes(part)) return `BodyPartExamined ${part} is not CHEST`;
  const view = t.view.toUpperCase();
  if (!view) return 'ViewPosition is missing (need PA or AP)';
  if (!(FRONTAL_VIEWS as readonly string[]).includes(view))
    return `ViewPosition ${view} is not a frontal view (PA or AP)`;
  // ImageType value 2 says PRIMARY (from the acquisition) or SECONDARY (made from other
  // images, e.g. a screenshot or another tool's result); localizers are not diagnostic.
  if (t.imageType[1] === 'SECONDARY') return 'ImageType is SECONDARY (derived from other images, not an acquisition)';
  if (t.imageType.includes('LOCALIZER')) return 'ImageType is LOCALIZER';
  return null;
}
