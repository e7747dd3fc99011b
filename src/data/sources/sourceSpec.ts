// `--source KIND:PATH[:k=v,k=v]` → a reader call.
// Kinds: covid-chestxray, cxnet, figure1, folder, csv, dicom, tb-screening.
import { OptionError } from '../../util/optionError.js';
import { readCovidChestxray } from './covidChestxray.js';
import { readCxnet } from './cxnet.js';
import { readFigure1 } from './figure1.js';
import { readFolderSource } from './folder.js';
import { readCsvSource } from './csv.js';
import { readDicomSource } from './dicom.js';
import { readTbScreening } from './tbScreening.js';
import type { SourceResult } from './source.js';

const SOURCE_KINDS = ['covid-chestxray', 'cxnet', 'figure1', 'folder', 'csv', 'dicom', 'tb-screening'] as const;
type SourceKind = (typeof SOURCE_KINDS)[number];

export interface SourceSpec {
  kind: SourceKind;
  path: string;
  options: Record<string, string>;
}

const OPTION_KEYS: Record<SourceKind, string[]> = {
  'covid-chestxray': ['name', 'views', 'modality', 'findings', 'minage'],
  cxnet: ['name', 'views', 'adults', 'minage'],
  figure1: ['name', 'views'],
  folder: ['name', 'rule', 'classes', 'view', 'sublabel'],
  csv: ['name', 'path', 'label', 'patient', 'view', 'rule', 'views', 'keep'],
  dicom: ['name', 'labels', 'label', 'views'],
  'tb-screening': ['name'],
};

/** Parse `KIND:PATH[:OPTIONS]`; OPTIONS are comma-separated key=value (lists use '|'). */
export function parseSourceSpec(text: string): SourceSpec {
  const m = /^([a-z][a-z0-9-]*):(.+)$/.exec(text);
  if (!m)
    throw new OptionError(
      `invalid source '${text}': expected KIND:PATH[:key=value,…] with KIND one of ${SOURCE_KINDS.join(', ')}`,
      'source',
    );
  const kind = m[1] as SourceKind;
  if (!SOURCE_KINDS.includes(kind))
    throw new OptionError(`invalid source '${text}': unknown kind '${m[1]}' (${SOURCE_KINDS.join(', ')})`, 'source');
  let path = m[2];
  const options: Record<string, string> = {};
  const k = path.lastIndexOf(':');
  if (k > 0 && /^[a-z]+=/.test(path.slice(k + 1))) {
    for (const part of path.slice(k + 1).split(/,(?=[a-z]+=)/)) {
      const eq = part.indexOf('=');
      const key = part.slice(0, eq);
      if (!OPTION_KEYS[kind].includes(key)) {
        throw new OptionError(
          `invalid source '${text}': unknown option '${key}' for ${kind} (${OPTION_KEYS[kind].join(', ')})`,
          'source',
        );
      }
      options[key] = part.slice(eq + 1);
    }
    path = path.slice(0, k);
  }
  return { kind, path, options };
}

const list = (v: string | undefined) =>
  v
    ? v
        .split('|')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;

function minAgeOf(v: string): number {
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= 0))
    throw new OptionError(`invalid source option minage=${v}: expected an age in years`, 'source');
  return n;
}

function yesNo(v: string | undefined, key: string): boolean {
  if (v === undefined || v === 'no') return false;
  if (v === 'yes') return true;
  throw new OptionError(`invalid source option ${key}=${v}: expected yes or no`, 'source');
}

export function readSource(spec: SourceSpec, views?: string[]): SourceResult {
  const o = spec.options;
  const v = list(o.views) ?? views;
  switch (spec.kind) {
    case 'covid-chestxray':
      return readCovidChestxray(spec.path, {
        name: o.name,
        views: v,
        modality: o.modality,
        findings: list(o.findings),
        ...(o.minage !== undefined ? { minAge: minAgeOf(o.minage) } : {}),
      });
    case 'cxnet':
      return readCxnet(spec.path, {
        name: o.name,
        views: v,
        adults: yesNo(o.adults, 'adults'),
        ...(o.minage !== undefined ? { minAge: minAgeOf(o.minage) } : {}),
      });
    case 'figure1':
      return readFigure1(spec.path, { name: o.name, views: v });
    case 'folder':
      return readFolderSource(spec.path, {
        name: o.name,
        rule: o.rule,
        classes: list(o.classes),
        view: o.view,
        sublabel: list(o.sublabel),
      });
    case 'csv':
      return readCsvSource(spec.path, {
        name: o.name,
        pathColumn: o.path,
        labelColumn: o.label,
        patientColumn: o.patient,
        viewColumn: o.view,
        rule: o.rule,
        views: v,
        keep: list(o.keep),
      });
    case 'dicom':
      return readDicomSource(spec.path, { name: o.name, labels: o.labels, label: o.label, views: v });
    case 'tb-screening':
      return readTbScreening(spec.path, { name: o.name });
  }
}
