#!/usr/bin/env node
// Builds the libtorch addon with node-gyp when its sources, the libtorch it links
// or the Node version changed (a stamp in native/build records what was built).
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

const h = createHash('sha256');
for (const f of ['binding.gyp', ...readdirSync(join(native, 'src')).sort().map((f) => join('src', f))]) {
  h.update(f).update(readFileSync(join(native, f)));
}
h.update(readFileSync(join(root, 'scripts', 'torch-config.mjs')));
const cfg = torchConfig();
h.update(JSON.stringify(cfg)).update(process.version);
const stamp = h.digest('hex');

if (!process.argv.includes('--force') && existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  console.error('native addon up to date');
  process.exit(0);
}
console.error(`building native addon against libtorch at ${cfg.root}${cfg.cuda ? ' (CUDA)' : ''} (takes a few minutes)…`);
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const jobs = process.env.JOBS ?? '2';
// Offline: build against the local Node headers (npm's nodedir, or the distro's /usr/include/node).
const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : '');
const args = [gyp, 'rebuild', `--jobs=${jobs}`, ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: native, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('native addon build failed');
  process.exit(r.status ?? 1);
}
writeFileSync(stampFile, stamp);
