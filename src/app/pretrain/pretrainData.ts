// What `cxrtune pretrain --data DIR` adapts a backbone on: the images of a ../shared/data-style
// folder that the COVID-19 evaluation never uses, and the check that none of an evaluation's
// images slipped in (by content, so a copy under another name is caught too).
//
// The set is Kermany's paediatric collection (Guangzhou), three classes: normal, bacterial and
// viral pneumonia (the file name says which), undersampled to the smallest class, split by patient.
// Not used, and why (docs/pretraining.md): the Montgomery and Shenzhen TB positives (their normals
// are COVID-19 negatives of adult-mixed, so a TB class would teach the features to recognise two of
// the evaluation's negative sources), nih (adult-mixed draws its negatives from it, a different
// draw per seed), cxnet, covid-chestxray and figure1 (COVID-19 evaluation and external sets).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BuildOptions } from '../../data/build.js';
import { readManifest, rowPath } from '../../data/manifest.js';

export const PRETRAIN_CLASSES = ['bacterial', 'normal', 'viral'] as const;

/** The pretraining set's build options (everything but seed and out). */
export function pretrainPreset(
  dataDir: string,
): Pick<BuildOptions, 'sources' | 'labelMap' | 'balance' | 'split' | 'notes'> {
  const d = resolve(dataDir);
  const kermany = join(d, 'kermany');
  if (!existsSync(join(kermany, 'NORMAL')) || !existsSync(join(kermany, 'PNEUMONIA')))
    throw new Error(`pretrain --data: ${kermany} with NORMAL/ and PNEUMONIA/ not found (the Kermany collection)`);
  return {
    sources: [
      {
        kind: 'folder',
        path: kermany,
        options: { rule: 'kermany', classes: 'NORMAL|PNEUMONIA', sublabel: 'bacteria|virus' },
      },
    ],
    labelMap: 'pneumonia-type',
    balance: 'undersample',
    split: '0.9,0.1',
    notes: [
      'pretrain: Kermany (paediatric, Guangzhou) normal / bacterial / viral pneumonia, undersampled to the ' +
        'smallest class; none of these images is used by the COVID-19 evaluation (adult-mixed) or its external set',
      'paediatric images only: the features may learn children’s anatomy; the COVID-19 sets are adults',
    ],
  };
}

/** SHA-256 of a file's bytes. */
function contentHash(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

export interface ExclusionCheck {
  manifest: string;
  images: number;
  /** Images of the pretraining manifest whose content equals one of this manifest's. */
  overlap: number;
}

/**
 * Refuses a pretraining manifest that shares an image (by content) with any of `exclude` (the
 * evaluation's manifests); returns what was checked, for the model card.
 */
export function checkExcluded(pretrainManifest: string, exclude: readonly string[]): ExclusionCheck[] {
  if (exclude.length === 0) return [];
  const own = new Map<string, string>();
  const pm = readManifest(pretrainManifest);
  for (const r of pm.rows) own.set(contentHash(rowPath(pm, r)), r.path);
  return exclude.map((m) => {
    const em = readManifest(m);
    const rows = em.rows;
    const hits = [...new Set(rows.map((r) => rowPath(em, r)))].filter((p) => existsSync(p) && own.has(contentHash(p)));
    if (hits.length)
      throw new Error(
        `pretrain: ${hits.length} image(s) of ${m} are in the pretraining set (e.g. ${hits[0]}); ` +
          'pretraining must not see the evaluation’s images',
      );
    return { manifest: resolve(m), images: rows.length, overlap: 0 };
  });
}
