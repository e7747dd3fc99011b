// The NLM tuberculosis screening sets (Montgomery County, Shenzhen) as laid out in
// ../shared/data/lungs: images/<stem>.jpg|png beside masks/<stem>.png, the label is the file
// name's last digit (`_0` normal, `_1` tuberculosis). One image per patient, so the stem is
// the patient id. The lung mask's path rides along in the `lung_mask` column, which the
// shortcut audit reads (frame-only / lungs-out with the real lung field).
import { existsSync, readdirSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { notAFile } from '../fileProbe.js';
import { requireDir, type SourceResult, type SourceRow } from './source.js';

interface TbScreeningOptions {
  /** Source name (patient id namespace). Default: the folder's name (montgomery, shenzhen). */
  name?: string;
}

const EXTENSIONS = ['.jpg', '.jpeg', '.png'];
const TB_LABELS = { '0': 'normal', '1': 'tuberculosis' } as const;

/** MCUCXR_0001_0 → 'normal'; CHNCXR_0327_1 → 'tuberculosis'; anything else → null. */
export function tbLabelOf(stem: string): string | null {
  const m = /_([01])$/.exec(stem);
  return m ? TB_LABELS[m[1] as '0' | '1'] : null;
}

export function readTbScreening(dir: string, opts: TbScreeningOptions = {}): SourceResult {
  const root = resolve(dir);
  const name = opts.name ?? basename(root);
  requireDir(root, `source ${name}`);
  const images = join(root, 'images');
  requireDir(images, `source ${name} (expects images/ and masks/)`);
  const rows: SourceRow[] = [];
  const problems: SourceResult['problems'] = [];
  const files = readdirSync(images)
    .filter((f) => EXTENSIONS.includes(extname(f).toLowerCase()) && !f.startsWith('.'))
    .sort();
  if (files.length === 0) throw new Error(`source ${name}: no .jpg/.png images in ${images}`);
  for (const f of files) {
    const path = join(images, f);
    const why = notAFile(path);
    if (why) {
      problems.push({ where: path, message: why });
      continue;
    }
    const stem = f.slice(0, -extname(f).length);
    const label = tbLabelOf(stem);
    if (!label) {
      problems.push({ where: path, message: 'file name does not end in _0 (normal) or _1 (tuberculosis)' });
      continue;
    }
    const mask = join(root, 'masks', `${stem}.png`);
    rows.push({
      path,
      rawLabel: label,
      patientId: `${name}:${stem}`,
      source: name,
      view: 'PA',
      extra: { finding: label, ...(existsSync(mask) ? { lung_mask: mask } : {}) },
    });
  }
  return { rows, problems };
}
