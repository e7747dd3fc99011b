#!/usr/bin/env node
// Builds the libtorch addon with node-gyp when its sources, the libtorch it links
// or the Node version changed (a stamp in native/build records what was built).
// When only sources changed, `node-gyp build` recompiles just the changed files (make
// tracks header dependencies): a full rebuild of the 17 files takes 2–6 minutes on 2 cores.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { torchConfig } from './torch-config.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const out = join(native, 'build', 'Release', 'cxrtune.node');
const stampFile = join(native, 'build', 'stamp.txt');

// Two hashes: what the build is configured from, and that plus every source file.
const cfg = torchConfig();
const config = createHash('sha256')
  .update(readFileSync(join(native, 'binding.gyp')))
  .update(readFileSync(join(root, 'scripts', 'torch-config.mjs')))
  .update(JSON.stringify(cfg))
  .update(process.version)
  .digest('hex');
const h = createHash('sha256').update(config);
for (const f of readdirSync(join(native, 'src')).sort()) h.update(f).update(readFileSync(join(native, 'src', f)));
const stamp = `${config}\n${h.digest('hex')}`;

const force = process.argv.includes('--force');
const previous = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '';
if (!force && existsSync(out) && previous === stamp) {
  console.error('native addon up to date');
  process.exit(0);
}
const incremental = !force && existsSync(join(native, 'build', 'Makefile')) && previous.split('\n')[0] === config;
console.error(
  `building native addon against libtorch at ${cfg.root}${cfg.cuda ? ' (CUDA)' : ''} (takes a few minutes)…`,
);
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const jobs = process.env.JOBS ?? '2';
// Offline: build against the local Node headers (npm's nodedir, or the distro's /usr/include/node).
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : '');
const args = [gyp, incremental ? 'build' : 'rebuild', `--jobs=${jobs}`, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: native, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('native addon build failed');
  process.exit(r.status ?? 1);
}
writeFileSync(stampFile, stamp);
