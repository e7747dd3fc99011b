// Where weights already live on a machine, by each tool's own rules:
// torch hub ($TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch; checkpoints/),
// the Hugging Face hub ($HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub),
// and cxrtune's own ($CXRTUNE_CACHE, else $XDG_CACHE_HOME/cxrtune; weights/).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Env = Record<string, string | undefined>;

const xdgCache = (env: Env) => env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');

export function torchHubCheckpoints(env: Env = process.env): string {
  return join(env.TORCH_HOME || join(xdgCache(env), 'torch'), 'hub', 'checkpoints');
}

export function hfHubCache(env: Env = process.env): string {
  return (
    env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || join(env.HF_HOME || join(xdgCache(env), 'huggingface'), 'hub')
  );
}

/** cxrtune's own cache root: weights/, lung-masks/, segmenters/. */
export function cxrtuneCache(env: Env = process.env): string {
  return env.CXRTUNE_CACHE || join(xdgCache(env), 'cxrtune');
}

export function cxrtuneWeightsCache(env: Env = process.env): string {
  return join(cxrtuneCache(env), 'weights');
}

export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

/** 'timm/resnet50.tv_in1k' → its folder in the hub cache (models--timm--resnet50.tv_in1k). */
export function hubRepoDir(repoId: string, env: Env = process.env): string {
  return join(hfHubCache(env), `models--${repoId.replace('/', '--')}`);
}

/** The snapshot folder of a repo in the hub cache (refs/REV, else the only or newest snapshot), or null. */
export function hubSnapshot(repoId: string, revision = 'main', env: Env = process.env): string | null {
  const dir = hubRepoDir(repoId, env);
  const snaps = join(dir, 'snapshots');
  if (!existsSync(snaps)) return null;
  const ref = join(dir, 'refs', revision);
  if (existsSync(ref)) {
    const commit = readFileSync(ref, 'utf8').trim();
    if (existsSync(join(snaps, commit))) return join(snaps, commit);
  }
  if (existsSync(join(snaps, revision))) return join(snaps, revision);
  const all = readdirSync(snaps)
    .filter((s) => !s.startsWith('.'))
    .map((s) => join(snaps, s));
  all.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  return all.at(-1) ?? null;
}
