// `cxrtune weights pull|list|import`: pull against a local HTTP server laid out like the
// Hugging Face Hub (302 to a CDN with X-Linked-Etag/X-Linked-Size/X-Repo-Commit, Range),
// a transfer cut off midway and resumed, a corrupted one refused, offline advice; list over
// torch hub / HF / cxrtune caches; import of a DataParallel-named file into torchvision names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import { pullWeights } from '../../src/app/weights/pullWeights.js';
import { listLocalWeights, formatWeightsTable } from '../../src/app/weights/listWeights.js';
import { importWeights } from '../../src/app/weights/importWeights.js';
import { downloadBar } from '../../src/cli/weightsPullCommand.js';
import { serializeSafetensors, readSafetensors, writeSafetensors } from '../../src/engine/safetensors.js';
import { fromFloat32, toFloat32 } from '../../src/engine/dtype.js';
import { Model } from '../../src/engine/model.js';
import { loadNative, projectRoot } from '../../src/engine/native.js';
import { resolveWeightsFile, weightsInfo } from '../../src/engine/weights/weightsFile.js';

const root = mkdtempSync(join(tmpdir(), 'cxrtune-weights-'));
const REPO = 'acme/tiny-net.tv_in1k';
const COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
const values = Array.from({ length: 400_000 }, (_, i) => Math.sin(i));
const weights = serializeSafetensors(new Map([['x', fromFloat32(values, [400_000])]]), { arch: 'test' });
const sha = createHash('sha256').update(weights).digest('hex');
const config = Buffer.from(JSON.stringify({ architecture: 'tiny-net' }));
const configEtag = createHash('sha1').update(config).digest('hex');
const seen: { method: string; url: string; range?: string }[] = [];
const mode = { cutAt: 0, corrupt: false };
let server: Server;
let endpoint = '';

before(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (req.url === `/${REPO}/resolve/main/model.safetensors`) {
      // The Hub: LFS files answer 302 to the CDN, the pointer's facts in X-Linked-* headers.
      res.writeHead(302, {
        location: `/cdn/${sha}`,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(weights.length),
        'x-repo-commit': COMMIT,
        etag: '"pointer"',
      });
      return res.end();
    }
    if (req.url === `/${REPO}/resolve/main/config.json`) {
      res.writeHead(200, { etag: `"${configEtag}"`, 'x-repo-commit': COMMIT, 'content-length': config.length });
      return res.end(req.method === 'HEAD' ? undefined : config);
    }
    if (req.url === `/cdn/${sha}`) {
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      let body = weights.subarray(start);
      if (mode.corrupt) {
        body = Buffer.from(body);
        body[body.length - 1]! ^= 0xff;
      }
      res.writeHead(m ? 206 : 200, {
        'content-length': body.length,
        ...(m ? { 'content-range': `bytes ${start}-${weights.length - 1}/${weights.length}` } : {}),
      });
      if (mode.cutAt && start === 0) {
        mode.cutAt = 0;
        res.write(body.subarray(0, 600_000), () => res.socket!.destroy());
        return;
      }
      return res.end(body);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

const envFor = (name: string, extra: Record<string, string> = {}) => ({
  HF_ENDPOINT: endpoint,
  HF_HUB_CACHE: join(root, name),
  ...extra,
});

test(
  'pull: HF layout (blobs, snapshot links, refs), ' + 'an interrupted transfer resumed with Range, SHA-256 checked',
  async () => {
    mode.cutAt = 600_000;
    seen.length = 0;
    const progress: [string, number, number][] = [];
    const logs: string[] = [];
    const env = envFor('hub1');
    const r = await pullWeights({
      repo: REPO,
      env,
      progress: (f, d, t) => progress.push([f, d, t]),
      log: (m) => logs.push(m),
    });
    const cdn = seen.filter((s) => s.url.startsWith('/cdn/'));
    assert.equal(cdn.length, 2, JSON.stringify(seen));
    // The server sent 600,000 bytes before cutting the socket; the client may see fewer (bytes
    // still in flight when the socket errors are dropped), and resumes from what it saved.
    const resumeAt = Number(/^bytes=(\d+)-$/.exec(cdn[1]!.range ?? '')?.[1]);
    assert.ok(resumeAt > 0 && resumeAt <= 600_000, `resumed at ${cdn[1]!.range}`);
    assert.ok(
      progress.some(([, done]) => done === resumeAt),
      'the resume starts where the saved bytes end',
    );
    assert.ok(logs.some((l) => /resuming/.test(l)));
    const repoDir = join(env.HF_HUB_CACHE, 'models--acme--tiny-net.tv_in1k');
    assert.equal(r.snapshot, join(repoDir, 'snapshots', COMMIT));
    assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), COMMIT);
    assert.ok(lstatSync(join(r.snapshot, 'model.safetensors')).isSymbolicLink());
    assert.equal(readlinkSync(join(r.snapshot, 'model.safetensors')), `../../blobs/${sha}`);
    assert.equal(readlinkSync(join(r.snapshot, 'config.json')), `../../blobs/${configEtag}`);
    assert.deepEqual(readFileSync(join(r.snapshot, 'model.safetensors')), weights);
    assert.equal(r.files.find((f) => f.name === 'model.safetensors')!.sha256, sha);
    assert.equal(r.weights, join(r.snapshot, 'model.safetensors'));
    assert.deepEqual(progress.at(-1), ['model.safetensors', weights.length, weights.length]);
    // The pulled repo is a --pretrained hub id like any other.
    process.env.HF_HUB_CACHE = env.HF_HUB_CACHE;
    assert.equal(resolveWeightsFile(REPO), r.weights);
    // … and its config.json is read: timm's architecture decides (this one has no counterpart).
    await assert.rejects(weightsInfo(REPO), /timm architecture 'tiny-net' has no torchvision counterpart/);
    delete process.env.HF_HUB_CACHE;

    seen.length = 0;
    const again = await pullWeights({ repo: REPO, env });
    assert.ok(again.files.every((f) => f.cached));
    assert.equal(seen.filter((s) => s.method === 'GET').length, 0, 'a cached blob is not downloaded again');
  },
);

test('pull resumes a partial blob left by an earlier run; a corrupted transfer is refused and removed', async () => {
  const env = envFor('hub2');
  const blobs = join(env.HF_HUB_CACHE, 'models--acme--tiny-net.tv_in1k', 'blobs');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, `${sha}.incomplete`), weights.subarray(0, 500_000));
  seen.length = 0;
  const r = await pullWeights({ repo: REPO, env });
  assert.equal(r.files.find((f) => f.name === 'model.safetensors')!.resumedFrom, 500_000);
  assert.deepEqual(
    seen.filter((s) => s.url.startsWith('/cdn/')).map((s) => s.range),
    ['bytes=500000-'],
  );
  assert.deepEqual(readFileSync(join(blobs, sha)), weights);

  mode.corrupt = true;
  const env3 = envFor('hub3');
  try {
    await assert.rejects(
      pullWeights({ repo: REPO, env: env3 }),
      /SHA-256 [0-9a-f]{64} does not match the Hub's [0-9a-f]{64}/,
    );
  } finally {
    mode.corrupt = false;
  }
  const blobs3 = join(env3.HF_HUB_CACHE, 'models--acme--tiny-net.tv_in1k', 'blobs');
  assert.equal(existsSync(join(blobs3, sha)), false);
  assert.equal(existsSync(join(blobs3, `${sha}.incomplete`)), false);
});

test('offline: a cached repo is used without the network; a missing one says what to download and where', async () => {
  seen.length = 0;
  const r = await pullWeights({ repo: REPO, env: envFor('hub1', { HF_HUB_OFFLINE: '1' }) });
  assert.equal(r.offline, true);
  assert.match(r.weights, /snapshots\/c0ffee.*\/model\.safetensors$/);
  assert.equal(seen.length, 0);
  const env = envFor('empty', { HF_HUB_OFFLINE: '1' });
  await assert.rejects(
    pullWeights({ repo: REPO, env }),
    (e: Error) =>
      e.message.includes(`${endpoint}/${REPO}/resolve/main/model.safetensors`) &&
      e.message.includes(join(env.HF_HUB_CACHE, 'models--acme--tiny-net.tv_in1k', 'snapshots', 'main')),
  );
  await assert.rejects(
    pullWeights({ repo: REPO, env: { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: join(root, 'x') } }),
    /cannot reach http:\/\/127\.0\.0\.1:9 .*download .*model\.safetensors/,
  );
  await assert.rejects(
    pullWeights({ repo: 'acme/missing', env: envFor('hub4') }),
    /has no model\.safetensors or pytorch_model\.bin/,
  );
});

test('the download bar: in place on a terminal, one line per file otherwise', () => {
  const out: string[] = [];
  let t = 0;
  const bar = downloadBar(
    (s) => out.push(s),
    false,
    () => t,
  );
  bar('model.safetensors', 0, 4e6);
  t = 1000;
  bar('model.safetensors', 2e6, 4e6);
  t = 2000;
  bar('model.safetensors', 4e6, 4e6);
  assert.deepEqual(out, [`model.safetensors ${'█'.repeat(24)} 4.0/4.0 MB 2.0 MB/s\n`]);
  const tty: string[] = [];
  const bar2 = downloadBar(
    (s) => tty.push(s),
    true,
    () => t,
  );
  t = 3000;
  bar2('a', 0, 10);
  t = 4000;
  bar2('a', 5e6, 10e6);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the bar redraws with a terminal escape
  assert.match(tty.at(-1)!, /^\r\x1b\[Ka █{12}░{12} 5\.0\/10\.0 MB 5\.0 MB\/s ETA /);
});

test(
  'import: a DataParallel-named file becomes torchvision names, ' + 'fp32, with metadata; list shows every cache',
  async (t) => {
    loadNative().setThreads(2);
    const m = await Model.create({ arch: 'resnet18', numClasses: 5 });
    const state = await m.state();
    const src = join(root, 'ckpt', 'dp.safetensors');
    await writeSafetensors(src, new Map([...state].map(([k, v]) => [`module.${k}`, v])));
    const out = join(root, 'imported');
    const r = await importWeights({ source: src, out });
    assert.equal(r.descriptor.arch, 'resnet18');
    assert.equal(r.descriptor.numClasses, 5);
    assert.equal(r.descriptor.sourceSha256, createHash('sha256').update(readFileSync(src)).digest('hex'));
    const back = await readSafetensors(join(out, 'model.safetensors'));
    assert.deepEqual([...back.tensors.keys()], [...state.keys()]);
    assert.deepEqual(
      toFloat32(back.tensors.get('layer4.1.bn2.running_var')!),
      toFloat32(state.get('layer4.1.bn2.running_var')!),
    );
    assert.equal(back.metadata.arch, 'resnet18');
    assert.equal(back.metadata.mean, '[0.485,0.456,0.406]');
    assert.equal(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).format, 'cxrtune-weights/1');
    await assert.rejects(
      importWeights({ source: src, arch: 'densenet121', out: join(root, 'bad') }),
      /holds resnet18 weights, not densenet121/,
    );

    // list: torch hub (a .pth when Debian's torch is here), the HF cache of the pull test, cxrtune's imports.
    const env = { TORCH_HOME: join(root, 'torch'), HF_HUB_CACHE: join(root, 'hub1'), CXRTUNE_CACHE: join(root, 'cx') };
    mkdirSync(join(root, 'torch', 'hub', 'checkpoints'), { recursive: true });
    await importWeights({ source: src, out: join(root, 'cx', 'weights', 'dp') });
    const py = process.env.CXRTUNE_PYTHON ?? '/usr/bin/python3';
    const hasPy = existsSync(py);
    const pth = join(root, 'torch', 'hub', 'checkpoints', 'mystery-b627a593.pth');
    if (hasPy)
      execFileSync(py, [
        '-c',
        `import torch, torchvision; torch.save(torchvision.models.resnet34().state_dict(), ${JSON.stringify(pth)})`,
      ]);
    const l = await listLocalWeights(env);
    const by = new Map(l.weights.map((w) => [w.id, w]));
    assert.equal(by.get(REPO)?.cache, 'hf-hub');
    assert.match(by.get(REPO)?.problem ?? '', /timm architecture 'tiny-net' has no torchvision counterpart/);
    assert.equal(by.get(join(root, 'cx', 'weights', 'dp'))?.arch, 'resnet18');
    assert.match(formatWeightsTable(l), /cxrtune\s+\S+\/cx\/weights\/dp\s+resnet18\s+44\.8 MB\s+ok/);
    await t.test('a .pth in the torch hub cache is listed with the architecture its names say', (st) => {
      if (!hasPy) return st.skip(`${py} is missing: no torchvision to write the .pth with`);
      assert.equal(by.get(pth)?.arch, 'resnet34');
    });
  },
);

test('the cxrtune command: weights list --json and an offline pull that says where to put the files', () => {
  const cli = join(projectRoot(), 'src', 'cli', 'main.ts');
  const env = {
    ...process.env,
    TORCH_HOME: join(root, 'torch'),
    HF_HUB_CACHE: join(root, 'hub1'),
    CXRTUNE_CACHE: join(root, 'cx'),
    HF_HUB_OFFLINE: '1',
    HF_ENDPOINT: 'https://huggingface.co',
  };
  const out = execFileSync(process.execPath, ['--import', 'tsx', cli, 'weights', 'list', '--json'], {
    env,
    encoding: 'utf8',
  });
  const listed = JSON.parse(out) as { weights: { id: string; cache: string }[] };
  assert.ok(listed.weights.some((w) => w.id === REPO && w.cache === 'hf-hub'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, 'weights', 'pull', 'timm/resnet152.tv_in1k'], {
    env,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    new RegExp(
      /^error: offline \(HF_HUB_OFFLINE=1\) and timm\/resnet152\.tv_in1k is not in the Hugging Face cache: /.source +
        /download https:\/\/huggingface\.co\/timm\/resnet152\.tv_in1k\/resolve\/main\/model\.safetensors /.source +
        /.*models--timm--resnet152\.tv_in1k\/snapshots\/main\//.source,
    ),
  );
});
