// Maps a source's raw label (finding, folder name, mapping-file label) to the dataset label.
// Ordered glob rules; the first match wins; a null target drops the image on purpose. A raw
// label that matches no rule is an error (an unnoticed new finding would silently be lost).
import { readFileSync, existsSync } from 'node:fs';
import { parseCsv, requireColumns } from './csv.js';

interface LabelRule {
  pattern: string;
  /** null = drop rows with this raw label. */
  target: string | null;
}

export class LabelMap {
  private readonly compiled: { re: RegExp; target: string | null }[];

  constructor(
    readonly rules: LabelRule[],
    readonly name = 'custom',
  ) {
    this.compiled = rules.map((r) => ({ re: globToRegExp(r.pattern), target: r.target }));
  }

  /** Dataset label, null to drop, or undefined when no rule matches (unknown label). */
  map(raw: string): string | null | undefined {
    for (const r of this.compiled) if (r.re.test(raw.trim())) return r.target === '$' ? normaliseLabel(raw) : r.target;
    return undefined;
  }
}

/** Lower case, spaces/underscores → '-': 'No Finding' → 'no-finding', 'NORMAL' → 'normal'. */
function normaliseLabel(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
}

function globToRegExp(glob: string): RegExp {
  const esc = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${esc}$`, 'i');
}

/** Built-in maps. `$` as target keeps the normalised raw label. */
export const LABEL_MAP_PRESETS: Record<string, LabelRule[]> = {
  identity: [{ pattern: '*', target: '$' }],
  'covid-vs-rest': [
    { pattern: 'COVID-19*', target: 'covid' },
    { pattern: '*', target: 'non-covid' },
  ],
  'covid-vs-normal': [
    { pattern: 'COVID-19*', target: 'covid' },
    { pattern: 'NORMAL', target: 'normal' },
    { pattern: 'No Finding*', target: 'normal' },
    { pattern: 'No_findings', target: 'normal' },
    { pattern: '*', target: null },
  ],
  // The paper's D_A: COVID-19 positives vs everything else drawn as negatives
  // (Kermany normal + pneumonia, adult normals).
  'paper-da': [
    { pattern: 'COVID-19*', target: 'covid' },
    { pattern: 'NORMAL', target: 'non-covid' },
    { pattern: 'PNEUMONIA', target: 'non-covid' },
    { pattern: 'No_findings', target: 'non-covid' },
    // figure1 (an external set) writes 'No finding'.
    { pattern: 'No finding', target: 'non-covid' },
    { pattern: '*', target: null },
  ],
  // data build --preset three-class (COVID-Net's classes): COVID-19 / other pneumonia / normal. ARDS is
  // not a pneumonia and tuberculosis is another question: both dropped, as is any finding not named.
  'three-class': [
    { pattern: 'COVID-19*', target: 'covid' },
    { pattern: 'No Finding', target: 'normal' },
    { pattern: 'No_findings', target: 'normal' },
    { pattern: 'normal', target: 'normal' },
    ...[
      'Pneumonia',
      'Bacterial',
      'E.Coli',
      'Influenza',
      'Klebsiella',
      'Legionella',
      'Lipoid',
      'Mycoplasma Bacterial Pneumonia',
      'Pneumocystis',
      'SARS',
      'Streptococcus',
      'Varicella',
    ].map((pattern) => ({ pattern, target: 'pneumonia' })),
    { pattern: '*', target: null },
  ],
  // cxrtune pretrain's task on Kermany (folder source with sublabel=bacteria|virus): the type of pneumonia.
  'pneumonia-type': [
    { pattern: 'NORMAL', target: 'normal' },
    { pattern: 'PNEUMONIA/bacteria', target: 'bacterial' },
    { pattern: 'PNEUMONIA/virus', target: 'viral' },
    { pattern: '*', target: null },
  ],
  // data build --preset adult-mixed: every non-COVID finding is a negative, except
  // tuberculosis (the TB screening sets' positives: another disease, another question).
  // Which sources are read (adults only, no Kermany unless asked) is the preset's choice.
  'adult-mixed': [
    { pattern: 'COVID-19*', target: 'covid' },
    { pattern: 'tuberculosis', target: null },
    { pattern: '*', target: 'non-covid' },
  ],
};

/**
 * A preset name, a JSON file ({"COVID-19*": "covid", "*": null}) or a CSV file with
 * columns `from,to` (empty `to` = drop).
 */
export function loadLabelMap(spec: string | undefined): LabelMap {
  if (!spec) return new LabelMap(LABEL_MAP_PRESETS.identity, 'identity');
  if (LABEL_MAP_PRESETS[spec]) return new LabelMap(LABEL_MAP_PRESETS[spec], spec);
  if (!existsSync(spec)) {
    throw new Error(
      `label map '${spec}' is neither a file nor a preset (${Object.keys(LABEL_MAP_PRESETS).join(', ')})`,
    );
  }
  const text = readFileSync(spec, 'utf8');
  if (spec.toLowerCase().endsWith('.json')) {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (err) {
      throw new Error(`label map ${spec}: invalid JSON (${(err as Error).message})`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj))
      throw new Error(`label map ${spec}: expected an object {"raw": "label"}`);
    return new LabelMap(
      Object.entries(obj as Record<string, unknown>).map(([pattern, t]) => {
        if (t !== null && typeof t !== 'string')
          throw new Error(`label map ${spec}: target of '${pattern}' must be a string or null`);
        return { pattern, target: t === '' ? null : (t as string | null) };
      }),
      spec,
    );
  }
  const table = parseCsv(text, `label map ${spec}`);
  requireColumns(table, ['from', 'to'], `label map ${spec}`);
  return new LabelMap(
    table.records.map((r) => ({ pattern: r.values.from, target: r.values.to || null })),
    spec,
  );
}
