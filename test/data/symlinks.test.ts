// Symbolic links in data sources: dangling links, link loops and links to an ancestor folder
// are skipped and listed (--on-error skip) or reported in one line (fail), never a raw ENOENT/ELOOP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildDataset } from '../../src/data/build.js';
import { readDicomSource } from '../../src/data/sources/dicom.js';
import { readCovidChestxray } from '../../src/data/sources/covidChestxray.js';
import { parseCsv } from '../../src/data/csv.js';
import { encodeDicom } from './helpers/dicomWriter.js';

const root = resolve(fileURLToPath(import.meta.url), '../../..');

async function png(file: string, v: number): Promise<void> {
  writeFileSync(
    file,
    await sharp(new Uint8Array(32 * 32).fill(v), { raw: { width: 32, height: 32, channels: 1 } })
      .png()
      .toBuffer(),
  );
}

/** normal/ and covid/ with 4 real images each, plus every kind of bad link. */
async function linkedTree(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-links-'));
  const src = join(dir, 'src');
  for (const c of ['normal', 'covid']) {
    mkdirSync(join(src, c), { recursive: true });
    for (let i = 0; i < 4; i++) await png(join(src, c, `${c}${i}.png`), c === 'normal' ? 40 + i : 200 - i);
  }
  symlinkSync(join(src, 'normal', 'gone.png'), join(src, 'normal', 'ghost.png')); // dangling
  symlinkSync('loop.png', join(src, 'covid', 'loop.png')); // points at itself
  symlinkSync('b.png', join(src, 'covid', 'a.png')); // a → b → a
  symlinkSync('a.png', join(src, 'covid', 'b.png'));
  symlinkSync(join(src, 'covid', 'covid0.png'), join(src, 'normal', 'alias.png')); // a good link is used
  symlinkSync(join(dir, 'nowhere'), join(src, 'gone')); // a dangling class folder
  return dir;
}

test('data build --on-error skip: dangling links and link loops are skipped and listed with their reason', async () => {
  const dir = await linkedTree();
  try {
    const src = join(dir, 'src');
    const r = await buildDataset({ sources: [`folder:${src}`], out: join(dir, 'out'), onError: 'skip', seed: 1 });
    assert.equal(r.rows.length, 9); // 4 + 4 + the good alias
    assert.ok(r.rows.some((x) => x.path.endsWith('alias.png')));
    const skipped = parseCsv(readFileSync(join(dir, 'out', 'skipped.csv'), 'utf8'), 'skipped.csv').records.map(
      (x) => x.values,
    );
    const by = Object.fromEntries(skipped.map((x) => [x.where.slice(src.length + 1), x.message]));
    assert.deepEqual(Object.keys(by).sort(), [
      'covid/a.png',
      'covid/b.png',
      'covid/loop.png',
      'gone',
      'normal/ghost.png',
    ]);
    assert.equal(
      by['normal/ghost.png'],
      `dangling symbolic link (its target ${join(src, 'normal', 'gone.png')} does not exist)`,
    );
    for (const f of ['covid/a.png', 'covid/b.png', 'covid/loop.png'])
      assert.equal(by[f], 'symbolic link loop (too many levels of links)');
    assert.equal(by.gone, `class folder: dangling symbolic link (its target ${join(dir, 'nowhere')} does not exist)`);
    assert.ok(existsSync(join(dir, 'out', 'manifest.csv')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('data build --on-error fail: one clear line naming the link, nothing written (library and CLI)', async () => {
  const dir = await linkedTree();
  try {
    const src = join(dir, 'src');
    rmSync(join(src, 'gone'));
    await assert.rejects(
      buildDataset({ sources: [`folder:${src}`], out: join(dir, 'out'), onError: 'fail' }),
      (e: Error) => {
        assert.match(
          e.message,
          new RegExp(
            /^.*covid\/a\.png: symbolic link loop \(too many levels of links\) \(\+3 more problems\); /.source +
              /set onError to 'skip' to get past it$/.source,
          ),
        );
        return true;
      },
    );
    assert.ok(!existsSync(join(dir, 'out')));
    const cli = (...a: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'test/data/helpers/cli.ts', ...a], {
        cwd: root,
        encoding: 'utf8',
      });
    const f = cli('data', 'build', '--source', `folder:${src}`, '--out', join(dir, 'out'));
    assert.equal(f.status, 1);
    assert.equal(f.stderr.split('\n').filter(Boolean).length, 1, f.stderr);
    assert.match(f.stderr, /^error: .*covid\/a\.png: symbolic link loop/);
    assert.doesNotMatch(f.stderr, /ELOOP|ENOENT|\s+at /);
    const s = cli('data', 'build', '--source', `folder:${src}`, '--out', join(dir, 'out'), '--on-error', 'skip');
    assert.equal(s.status, 0, s.stderr);
    assert.equal(
      readFileSync(join(dir, 'out', 'skipped.csv'), 'utf8')
        .trim()
        .split('\n').length,
      1 + 4,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DICOM source: links followed, a link to an ancestor walked once, broken links listed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-dcmlinks-'));
  try {
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'a.dcm'), encodeDicom({ rows: 16, columns: 16, patientId: 'P1' }));
    writeFileSync(join(dir, 'sub', 'b.dcm'), encodeDicom({ rows: 16, columns: 16, patientId: 'P2' }));
    symlinkSync(join(dir, 'a.dcm'), join(dir, 'sub', 'a-link.dcm'));
    symlinkSync(dir, join(dir, 'sub', 'up')); // cycle: sub/up → the root
    symlinkSync(join(dir, 'missing.dcm'), join(dir, 'ghost.dcm'));
    symlinkSync('self.dcm', join(dir, 'self.dcm'));
    const r = readDicomSource(dir, { label: 'normal', name: 'd' });
    assert.deepEqual(r.rows.map((x) => x.path.slice(dir.length + 1)).sort(), ['a.dcm', 'sub/a-link.dcm', 'sub/b.dcm']);
    assert.deepEqual(r.problems.map((p) => [p.where.slice(dir.length + 1), p.message]).sort(), [
      ['ghost.dcm', `dangling symbolic link (its target ${join(dir, 'missing.dcm')} does not exist)`],
      ['self.dcm', 'symbolic link loop (too many levels of links)'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('covid-chestxray source: a listed image that is a dangling link is a problem with its reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxr-ccxlinks-'));
  try {
    mkdirSync(join(dir, 'images'));
    await png(join(dir, 'images', 'ok.png'), 90);
    symlinkSync(join(dir, 'images', 'nope.png'), join(dir, 'images', 'bad.png'));
    writeFileSync(
      join(dir, 'metadata.csv'),
      'patientid,finding,view,modality,folder,filename\n1,COVID-19,PA,X-ray,images,ok.png\n' +
        '2,COVID-19,PA,X-ray,images,bad.png\n',
    );
    const r = readCovidChestxray(dir);
    assert.equal(r.rows.length, 1);
    assert.deepEqual(r.problems, [
      {
        where: join(dir, 'images', 'bad.png'),
        message:
          `image listed in metadata.csv line 3: dangling symbolic link (its target ` +
          `${join(dir, 'images', 'nope.png')} does not exist)`,
      },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
