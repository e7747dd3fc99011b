// What `--aug` means: 'none', the paper's Table 1 on the fly ('online'), the provenance-blind
// set ('robust'), both ('online+robust': Table 1 first, then robust), or the path of an
// offline-augmented manifest (`cxrtune augment`). One parser for train, lr-find and every
// reader of a run's config, and the record of what was applied (model.json training.augment).
import { TABLE1, TRANSFORMS } from './augment.js';
import { robustRecord } from './robustAugment.js';

const AUG_MODES = ['none', 'online', 'robust', 'online+robust'] as const;

interface AugMode {
  /** Table 1 on the fly. */
  table1: boolean;
  robust: boolean;
  /** Offline-augmented manifest, or null. */
  manifest: string | null;
}

/** True for a value that names an offline-augmented manifest rather than a mode. */
export function isOfflineAug(aug: string | undefined): aug is string {
  return !!aug && !(AUG_MODES as readonly string[]).includes(aug);
}

/**
 * Parses --aug. A bare word (no '.', '/' or '\') that is not a mode is a typo, not a manifest
 * path: refused with a one-line error naming it.
 */
export function parseAug(aug: string | undefined): AugMode {
  const a = aug ?? 'none';
  if (typeof a !== 'string' || !a)
    throw new Error(`invalid aug: must be ${AUG_MODES.join(', ')} or an offline-augmented manifest (.csv)`);
  if (!isOfflineAug(a))
    return {
      table1: a === 'online' || a === 'online+robust',
      robust: a === 'robust' || a === 'online+robust',
      manifest: null,
    };
  if (!/[./\\]/.test(a))
    throw new Error(
      `invalid aug: '${a}' is not one of ${AUG_MODES.join(', ')} nor an offline-augmented manifest path (.csv)`,
    );
  return { table1: false, robust: false, manifest: a };
}

/** model.json training.augment: what the training images went through, with every range. */
export function augmentRecord(aug: string | undefined): Record<string, unknown> {
  const m = parseAug(aug);
  if (m.manifest)
    return {
      mode: 'offline',
      manifest: m.manifest,
      note: "each augmented image's parameters are columns of that manifest",
    };
  const sets: Record<string, unknown>[] = [];
  if (m.table1) {
    sets.push({
      set: 'table1',
      order: [...TRANSFORMS],
      p: 0.75,
      atLeastOne: true,
      transforms: [
        { name: 'rotate', degrees: TABLE1.rotateDegrees, sign: '±' },
        { name: 'zoom', scale: [1, TABLE1.maxZoom] },
        { name: 'warp', magnitude: [-TABLE1.maxWarp, TABLE1.maxWarp], kind: 'fastai symmetric_warp' },
        {
          name: 'lighting',
          brightness: [1 / TABLE1.maxLighting, TABLE1.maxLighting],
          contrast: [1 / TABLE1.maxLighting, TABLE1.maxLighting],
          draw: 'log-uniform',
        },
        { name: 'blur', sigmaPx: TABLE1.blurSigma, kernel: 3 },
      ],
    });
  }
  if (m.robust) sets.push(robustRecord());
  return { mode: aug ?? 'none', sets };
}
