// Whether an image is a frontal chest radiograph the model may score: the refusal serve, the PACS
// link and the browser page apply before they show a probability. Two kinds of evidence:
//
// 1. The lung segmenter's mask of the whole image (recipe/lungFields.ts): a lung field of a
//    plausible size, two fields, side by side. Fixed anatomical limits, the same for every model
//    (they describe radiographs, not a model), recorded in ood.json so every consumer uses the same.
// 2. The Mahalanobis distance of the model's own pooled features (its Grad-CAM layer, averaged
//    over the map) to those of the images it was developed on (recipe/mahalanobis.ts), with its
//    limit set by the conformal rule on distances of images the Gaussian did not see (cross-fitted:
//    app/ood/fitOod.ts): the ⌈(n+1)(1−α)⌉-th smallest, so a new frontal film exchangeable with them
//    is refused with probability ≤ α (Vovk et al. 2005; Angelopoulos & Bates 2021). α = 0.5 %:
//    half of the 1 % false-refusal budget, the mask checks get the other half.
//
// A refused image gets the reason (the check, its value, its limit) and never a score.
import { mahalanobisDistance, type ShrunkGaussian } from './mahalanobis.js';
import { type LungFieldShape, TWO_FIELDS_BALANCE } from './lungFields.js';

export const OOD_FORMAT = 'cxrtune-ood/1';
/** The feature check's share of false refusals on frontal films (split-conformal α). */
export const FEATURE_ALPHA = 0.005;

/** The mask checks' limits (docs/refusal.md says how they were set). */
export interface LungFieldLimits {
  /** Lung share of the image: at least (the lung-evidence figure's own floor) … */
  minArea: number;
  /** … and at most. */
  maxArea: number;
  /** The smaller of the two largest fields' share of both, at least. */
  minBalance: number;
  /** Horizontal distance of the two fields' centroids (share of the width), at least. */
  minGap: number;
  /** Vertical distance of the two fields' centroids (share of the height), at most. */
  maxOffset: number;
  /** How much darker the lungs are than the rest of their box (grey levels / 255), at least. */
  minContrast: number;
}

export const LUNG_FIELD_LIMITS: LungFieldLimits = {
  minArea: 0.05,
  maxArea: 0.6,
  minBalance: TWO_FIELDS_BALANCE,
  minGap: 0.2,
  maxOffset: 0.2,
  minContrast: 0,
};

export interface FeatureDistanceRecord extends ShrunkGaussian {
  /** The block whose pooled activations are the features (the model's Grad-CAM layer). */
  layer: string;
  /** Refuse above this distance. */
  limit: number;
  alpha: number;
  /** What the Gaussian was fitted on and what set the limit. */
  fittedOn: { manifest: string; sha256: string | null; splits: string[]; images: number };
  limitSetOn: {
    /** Each image's distance under the Gaussian fitted on the other folds (patients split by fold). */
    method: 'cross-fitted';
    folds: number;
    images: number;
    /** The order statistic the limit is (1-based, ascending) and whether α is guaranteed (rank ≤ n). */
    rank: number;
    guaranteed: boolean;
    /** The cross-fitted distances' median and maximum, for the record. */
    median: number;
    max: number;
  };
}

/** ood.json: everything a consumer needs to refuse, for one model's weights. */
export interface OodRecord {
  format: typeof OOD_FORMAT;
  created: string;
  /** SHA-256 of the model.safetensors the features came from: a record for other weights is refused. */
  weightsSha256: string;
  arch: string;
  lungFields: LungFieldLimits;
  features: FeatureDistanceRecord;
}

type CheckName =
  | 'lung-area'
  | 'lung-area-max'
  | 'two-fields'
  | 'side-by-side'
  | 'level'
  | 'dark-lungs'
  | 'feature-distance';

export interface CheckResult {
  check: CheckName;
  value: number;
  limit: number;
  /** The value must be at least ('min') or at most ('max') the limit. */
  bound: 'min' | 'max';
  passed: boolean;
}

export interface FrontalVerdict {
  frontal: boolean;
  /** Every check that ran, in order. */
  checks: CheckResult[];
  /** The first failed check in words (null when frontal). */
  reason: string | null;
}

/** The split-conformal limit: the ⌈(n+1)(1−α)⌉-th smallest value (the largest when n is too small for α). */
export function conformalLimit(
  values: ArrayLike<number>,
  alpha: number,
): { limit: number; rank: number; guaranteed: boolean } {
  if (!(alpha > 0 && alpha < 1)) throw new Error(`alpha must be in (0, 1) (got ${alpha})`);
  const n = values.length;
  if (n === 0) throw new Error('a limit needs at least one validation value');
  const sorted = Float64Array.from(values).sort();
  const want = Math.ceil((n + 1) * (1 - alpha));
  const rank = Math.min(n, want);
  return { limit: sorted[rank - 1]!, rank, guaranteed: want <= n };
}

const fmt = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(3));

const SENTENCE: Record<CheckName, string> = {
  'lung-area': 'the lung segmenter finds too little lung',
  'lung-area-max': 'the lung segmenter finds lung over too much of the image',
  'two-fields': 'the lung segmenter does not find two lung fields',
  'side-by-side': 'the two lung fields are not side by side',
  level: 'the two lung fields are not at the same height',
  'dark-lungs': 'the lung fields are not darker than the tissue around them (an inverted image?)',
  'feature-distance': "the image is far from the model's training images",
};

const check = (name: CheckName, value: number, limit: number, bound: 'min' | 'max'): CheckResult => ({
  check: name,
  value,
  limit,
  bound,
  passed: bound === 'min' ? value >= limit : value <= limit,
});

/** The mask checks alone (before the model runs). */
export function lungFieldChecks(shape: LungFieldShape, l: LungFieldLimits): CheckResult[] {
  return [
    check('lung-area', shape.area, l.minArea, 'min'),
    check('lung-area-max', shape.area, l.maxArea, 'max'),
    check('two-fields', shape.balance, l.minBalance, 'min'),
    check('side-by-side', shape.gap, l.minGap, 'min'),
    check('level', shape.offset, l.maxOffset, 'max'),
    check('dark-lungs', shape.contrast, l.minContrast, 'min'),
  ];
}

export function featureCheck(f: FeatureDistanceRecord, features: ArrayLike<number>): CheckResult {
  return check('feature-distance', mahalanobisDistance(f, features), f.limit, 'max');
}

// What a reader should know where a real frontal film can fail a check too: such a film must not
// be taken for a wrong upload (measured: one hemithorax white in NIH films, docs/refusal.md).
const CAVEAT: Partial<Record<CheckName, string>> = {
  'two-fields':
    'a frontal film with one lung white (effusion, collapse, pneumonectomy) fails this check too: have it read',
};

/** Combines check results into the verdict (frontal when every check passed). */
export function verdictOf(checks: CheckResult[]): FrontalVerdict {
  const failed = checks.find((c) => !c.passed);
  return {
    frontal: !failed,
    checks,
    reason: failed
      ? `${SENTENCE[failed.check]} (${failed.check} ${fmt(failed.value)}, ` +
        `limit ${failed.bound === 'min' ? '≥' : '≤'} ${fmt(failed.limit)})` +
        (CAVEAT[failed.check] ? `; ${CAVEAT[failed.check]}` : '')
      : null,
  };
}

/**
 * The verdict on whatever evidence there is for a model with a record (ood.json): the mask's shape
 * (with a segmenter) and the features. A model without a record refuses nothing (it predates them).
 */
export function frontalVerdict(
  record: Pick<OodRecord, 'lungFields' | 'features'> | null,
  shape: LungFieldShape | null,
  features: ArrayLike<number> | null,
): FrontalVerdict {
  const checks: CheckResult[] = [];
  if (record && shape) checks.push(...lungFieldChecks(shape, record.lungFields));
  if (record && features) checks.push(featureCheck(record.features, features));
  return verdictOf(checks);
}

/** The one answer for a refused image: never a score. */
export const NOT_FRONTAL = 'not a frontal chest radiograph';
