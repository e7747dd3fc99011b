// What a model screens for, as data: the positive class, the finding's name in words and its code,
// each class's display name, and the intended use. A dataset may declare it (a preset's task
// record, written to summary.json beside the manifest); otherwise it follows from the class names
// through the table of known findings, and a class the table does not know is named as it is
// spelled. Training copies the record into model.json; the page, the SR, the report and the model
// card read it from there, so no consumer assumes two classes or one disease.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A coded concept (DICOM's CodeValue, CodingSchemeDesignator, CodeMeaning). */
export interface Coded {
  value: string;
  scheme: string;
  meaning: string;
}

export interface TaskRecord {
  /** The positive class's label (the class whose probability is screened). */
  positive: string;
  /** The finding screened for, in words: 'COVID-19 pneumonia', 'tuberculosis'. */
  finding: string;
  /** The finding's code (SNOMED CT where it has one; cxrtune's own scheme otherwise). */
  code: Coded;
  /** Display name of every class, by label ('covid' → 'COVID-19'). */
  classNames: Record<string, string>;
  /** One paragraph: what the model is for and what it is not validated for. */
  intendedUse: string;
}

/** Labels a dataset may declare beyond the positive class (the rest follow from the table). */
export type TaskDeclaration = Pick<TaskRecord, 'positive'> & Partial<Omit<TaskRecord, 'positive'>>;

/** cxrtune's own coding scheme (codes the SR and the task record use where a standard has none). */
export const CXRTUNE_SCHEME = '99CXRTUNE';

interface KnownFinding {
  /** How the class reads on the page: 'COVID-19'. */
  display: string;
  finding: string;
  code: Coded;
  /** What it is screened for, after "for review for". */
  reviewFor: string;
}

const COVID: KnownFinding = {
  display: 'COVID-19',
  finding: 'COVID-19 pneumonia',
  code: { value: '840539006', scheme: 'SCT', meaning: 'COVID-19' },
  reviewFor: 'COVID-19 pneumonia patterns',
};
const TB: KnownFinding = {
  display: 'tuberculosis',
  finding: 'tuberculosis',
  code: { value: '154283005', scheme: 'SCT', meaning: 'Pulmonary tuberculosis' },
  reviewFor: 'signs of pulmonary tuberculosis (triage before a confirmatory test)',
};
const PNEUMONIA: KnownFinding = {
  display: 'pneumonia',
  finding: 'pneumonia',
  code: { value: '233604007', scheme: 'SCT', meaning: 'Pneumonia' },
  reviewFor: 'pneumonia patterns',
};

/** Known labels (lower case, '-', '_' and blanks dropped) → their finding. */
const KNOWN: Record<string, KnownFinding> = {
  covid: COVID,
  covid19: COVID,
  tuberculosis: TB,
  tb: TB,
  pneumonia: PNEUMONIA,
  otherpneumonia: { ...PNEUMONIA, display: 'other pneumonia', finding: 'pneumonia (not COVID-19)' },
};
/** Negative labels whose display differs from their spelling. */
const NEGATIVE_NAMES: Record<string, string> = {
  noncovid: 'not COVID-19',
  nofinding: 'no finding',
  nofindings: 'no finding',
};

const key = (label: string) => label.toLowerCase().replace(/[-_\s]/g, '');

/** How a class reads to a clinician ('covid' → 'COVID-19'); an unknown label as it is spelled. */
export function classDisplayName(label: string): string {
  const k = key(label);
  return KNOWN[k]?.display ?? NEGATIVE_NAMES[k] ?? label.replace(/_/g, ' ');
}

const intendedUseFor = (reviewFor: string) =>
  `Research prototype to help prioritise frontal (PA/AP) adult chest radiographs for review for ${reviewFor}. ` +
  'Not validated for children, lateral views, other diseases, or as a sole basis for clinical decisions.';

/** The task of a model with these classes: a declaration's fields over what the table says. */
export function taskFor(classes: readonly string[], positiveClass: number, declared?: TaskDeclaration): TaskRecord {
  const positive = classes[positiveClass];
  if (positive === undefined) throw new Error(`positive class ${positiveClass} is not one of ${classes.length}`);
  const known = KNOWN[key(positive)];
  const finding = known?.finding ?? classDisplayName(positive);
  const fromTable: TaskRecord = {
    positive,
    finding,
    code: known?.code ?? { value: key(positive) || 'positive', scheme: CXRTUNE_SCHEME, meaning: finding },
    classNames: Object.fromEntries(classes.map((c) => [c, classDisplayName(c)])),
    intendedUse: intendedUseFor(known?.reviewFor ?? finding),
  };
  // A declaration for another positive class (a dataset built for one task, trained for another) is ignored.
  if (!declared || declared.positive !== positive) return fromTable;
  return {
    ...fromTable,
    ...declared,
    classNames: { ...fromTable.classNames, ...(declared.classNames ?? {}) },
  };
}

/** A task record read back from JSON (model.json, summary.json), or null when it is not one. */
export function readTaskDeclaration(v: unknown): TaskDeclaration | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (typeof o.positive !== 'string') return null;
  const out: TaskDeclaration = { positive: o.positive };
  if (typeof o.finding === 'string') out.finding = o.finding;
  if (typeof o.intendedUse === 'string') out.intendedUse = o.intendedUse;
  const c = o.code as Record<string, unknown> | undefined;
  if (c && typeof c.value === 'string' && typeof c.scheme === 'string' && typeof c.meaning === 'string')
    out.code = { value: c.value, scheme: c.scheme, meaning: c.meaning };
  if (o.classNames && typeof o.classNames === 'object')
    out.classNames = Object.fromEntries(
      Object.entries(o.classNames as Record<string, unknown>).filter(
        (e): e is [string, string] => typeof e[1] === 'string',
      ),
    );
  return out;
}

/** The task record a dataset declares (summary.json beside its manifest), or null. */
export function manifestTask(manifestFile: string): TaskDeclaration | null {
  const f = join(dirname(manifestFile), 'summary.json');
  if (!existsSync(f)) return null;
  try {
    return readTaskDeclaration((JSON.parse(readFileSync(f, 'utf8')) as { task?: unknown }).task);
  } catch {
    return null;
  }
}

/** A checkpoint's task: its recorded one (model.json `task`) over what its classes say. */
export function taskOfModel(m: { classes: string[]; positiveClass: number; task?: unknown }): TaskRecord {
  return taskFor(m.classes, m.positiveClass, readTaskDeclaration(m.task) ?? undefined);
}
