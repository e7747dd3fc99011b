// Folder-per-class trees (Kermany pneumonia, COVID-19 Radiography Database, NIH subsets):
// the sub-folder name is the raw label, the patient id comes from the file name by a rule.
import { readdirSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { patientIdRule } from '../patientId.js';
import { notAFile, probePath } from '../fileProbe.js';
import { IMAGE_EXTENSIONS, requireDir, type SourceResult, type SourceRow } from './source.js';

interface FolderSourceOptions {
  /** Source name (patient id namespace). Default: the folder's name. */
  name?: string;
  /** Patient id rule: kermany | nih | stem | regex:PATTERN (default stem). */
  rule?: string;
  /** Only these class folders (default all). */
  classes?: string[];
  /** View to record (folders rarely say; default ''). */
  view?: string;
  /**
   * Words that name a sub-class in the file name (Kermany's `person1_bacteria_1.jpeg`: bacteria|virus): a
   * file whose name holds one between `_`, `-` or `.` gets the raw label `CLASS/word` (e.g. PNEUMONIA/virus).
   */
  sublabel?: string[];
}

export function readFolderSource(dir: string, opts: FolderSourceOptions = {}): SourceResult {
  const root = resolve(dir);
  const name = opts.name ?? basename(root);
  requireDir(root, `source ${name}`);
  const rule = patientIdRule(opts.rule ?? 'stem');
  const problems: SourceResult['problems'] = [];
  // Class folders may be symbolic links to folders; a broken one is a problem, not a crash.
  const brokenClasses = new Map<string, string>();
  let classes = readdirSync(root, { withFileTypes: true })
    .filter((d) => !d.name.startsWith('.'))
    .filter((d) => {
      if (d.isDirectory()) return true;
      if (!d.isSymbolicLink()) return false;
      const p = probePath(join(root, d.name));
      if (!p.ok) brokenClasses.set(d.name, p.reason);
      return p.ok && p.kind === 'dir';
    })
    .map((d) => d.name)
    .sort();
  for (const [c, reason] of brokenClasses)
    if (!opts.classes || opts.classes.includes(c))
      problems.push({ where: join(root, c), message: `class folder: ${reason}` });
  if (opts.classes) {
    const missing = opts.classes.filter((c) => !classes.includes(c) && !brokenClasses.has(c));
    if (missing.length)
      throw new Error(
        `source ${name}: class folder${missing.length > 1 ? 's' : ''} not found in ${root}: ${missing.join(', ')}`,
      );
    classes = opts.classes.filter((c) => !brokenClasses.has(c));
  }
  if (classes.length === 0 && problems.length === 0)
    throw new Error(`source ${name}: no class sub-folders in ${root} (expected one folder per class)`);
  const rows: SourceRow[] = [];
  for (const cls of classes) {
    const cdir = join(root, cls);
    const files = readdirSync(cdir)
      .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()) && !f.startsWith('.'))
      .sort();
    if (files.length === 0)
      throw new Error(`source ${name}: empty class folder ${cdir} (no .png/.jpg/.jpeg/.dcm files)`);
    for (const f of files) {
      const path = join(cdir, f);
      const why = notAFile(path);
      if (why === 'is a folder, not a file') continue;
      if (why) {
        problems.push({ where: path, message: why });
        continue;
      }
      const pid = rule(f);
      if (!pid) {
        problems.push({
          where: path,
          message: `patient-id rule '${opts.rule ?? 'stem'}' does not match the file name`,
        });
        continue;
      }
      const sub = opts.sublabel?.find((w) => new RegExp(`(^|[_.-])${escapeRe(w)}([_.-]|$)`, 'i').test(f));
      rows.push({
        path,
        rawLabel: sub ? `${cls}/${sub}` : cls,
        patientId: `${name}:${pid}`,
        source: name,
        view: opts.view ?? '',
        extra: { class_folder: cls, ...(sub ? { sublabel: sub } : {}) },
      });
    }
  }
  return { rows, problems };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
