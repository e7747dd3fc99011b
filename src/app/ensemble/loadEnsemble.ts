// Loading an ensemble folder: every member found by its pin (relative path, else the absolute one)
// with its weights' SHA-256 checked, the members checked to agree, and the ensemble's identity
// (the hash over its members' hashes, model.json's weightsSha256) checked against its record.
import { createHash } from 'node:crypto';
import { loadCheckpoint, type CheckpointMeta } from '../../engine/checkpoint.js';
import { channelsLastFor } from '../../engine/models/registry.js';
import { pinnedDir } from '../train/modelRef.js';
import { EnsembleModel, membersMismatch, type EnsembleMember } from './ensembleModel.js';

/** An ensemble's weightsSha256: its members' weights, in order (serve and the PACS link name a model by it). */
export function ensembleIdentity(memberShas: readonly string[]): string {
  return createHash('sha256')
    .update(`cxrtune-ensemble\n${memberShas.join('\n')}`)
    .digest('hex');
}

export async function loadEnsemble(
  dir: string,
  meta: CheckpointMeta,
  o: { device?: string } = {},
): Promise<EnsembleModel> {
  const rec = meta.ensemble;
  if (!rec || !Array.isArray(rec.members) || rec.members.length < 2)
    throw new Error(`${dir}/model.json: an ensemble needs at least two pinned members`);
  if (ensembleIdentity(rec.members.map((m) => m.weightsSha256)) !== meta.weightsSha256)
    throw new Error(`${dir}/model.json: its members do not match its weightsSha256 (the member list was edited)`);
  const members: EnsembleMember[] = [];
  for (const [i, pin] of rec.members.entries()) {
    const memberDir = pinnedDir(dir, pin, `ensemble member ${i + 1}`);
    const channelsLast = channelsLastFor(pin.arch, o.device ?? 'cpu', 'inference');
    const { model, meta: m } = await loadCheckpoint(memberDir, {
      ...(o.device ? { device: o.device } : {}),
      ...(channelsLast ? { channelsLast } : {}),
    });
    members.push({ model, meta: m, dir: memberDir });
  }
  const bad = membersMismatch([
    { meta, name: 'the ensemble' },
    ...members.map((m, i) => ({ meta: m.meta, name: `member ${i + 1} (${m.dir})` })),
  ]);
  if (bad) throw new Error(`${dir}: ${bad}`);
  return new EnsembleModel(members);
}
