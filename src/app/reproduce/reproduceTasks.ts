// The tasks `reproduce` runs, each as the demo options that build its data and recipe:
// - covid: the recommended real-data recipe (adult-mixed, validation on held-out hospitals and
//   sources, lung crop), figure1 as the external set. Positives and negatives still come from
//   different collections, so even the source-held-out figure can reward provenance.
// - tb: tuberculosis, trained in Shenzhen (both classes from one hospital: INTERNAL validation) and
//   scored in Montgomery County (EXTERNAL), where provenance cannot separate the classes.
// - phantoms: the method's mechanics on drawn radiographs (INTERNAL only; no claim about X-rays).
import type { DemoOptions } from '../demo/demoContext.js';

export const REPRODUCE_TASK_NAMES = ['covid', 'tb', 'phantoms'] as const;
export type ReproduceTaskName = (typeof REPRODUCE_TASK_NAMES)[number];

export interface ReproduceTask {
  title: string;
  /** What the task's figures can and cannot say. */
  why: string;
  needsData: boolean;
  /** The demo options (less out, seed and budget) that build its data and choose its recipe. */
  demo(data: string | undefined): Partial<DemoOptions>;
}

export const REPRODUCE_TASKS: Record<ReproduceTaskName, ReproduceTask> = {
  covid: {
    title: 'COVID-19 pneumonia vs other adult radiographs (the paper’s task)',
    why:
      'validation holds out whole hospitals and sources (SOURCE-HELD-OUT), figure1 is EXTERNAL; positives and ' +
      'negatives come from different collections, so provenance can still help',
    needsData: true,
    demo: (data) => ({ data: data!, recipe: 'recommended' }),
  },
  tb: {
    title: 'tuberculosis, Shenzhen → Montgomery County',
    why:
      "both classes of each set come from one hospital, so provenance cannot separate them; Shenzhen's validation " +
      'is INTERNAL, Montgomery County (another country and scanner) is EXTERNAL and the headline',
    needsData: true,
    demo: (data) => ({ data: data!, task: 'tb', recipe: 'recommended' }),
  },
  phantoms: {
    title: 'phantom radiographs (the mechanics only)',
    why: 'drawn images with ground-glass lesions: INTERNAL figures that test the code, not a claim about X-rays',
    needsData: false,
    demo: () => ({}),
  },
};

/** Parses --task: a comma list of task names. */
export function parseTasks(list: string | undefined): ReproduceTaskName[] | undefined {
  if (!list) return undefined;
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(REPRODUCE_TASK_NAMES as readonly string[]).includes(n))
      throw new Error(`unknown task '${n}' (${REPRODUCE_TASK_NAMES.join(', ')})`);
  return names as ReproduceTaskName[];
}
