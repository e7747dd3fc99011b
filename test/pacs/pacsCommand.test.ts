// `cxrtune pacs dump-sr` prints an SR's attributes and content tree; `cxrtune pacs follow`
// refuses a bad PACS URL in one line before loading anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDicomFile } from '../../src/app/pacs/dicomFile.js';
import { buildScreeningSr } from '../../src/app/pacs/screeningSr.js';
import { resultUids } from '../../src/app/pacs/resultUids.js';
import { readSourceHeader } from '../../src/app/pacs/sourceHeader.js';
import { cxrDicom } from './cxrDicom.js';
import { taskFor } from '../../src/data/task.js';

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'cliEntry.ts');
const run = (args: string[]) =>
  new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', ENTRY, ...args], (e, out, err) =>
      resolve({ code: e ? ((e.code as number) ?? 1) : 0, out, err }),
    );
  });

test('pacs dump-sr prints the tags and the content tree', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-dump-'));
  try {
    const src = readSourceHeader(cxrDicom().bytes);
    const model = { arch: 'resnet18', version: 'v1', sha256: 'cd'.repeat(32), software: 'cxrtune 0.1.0' };
    const sr = buildScreeningSr(
      src,
      {
        probability: 0.125,
        threshold: 0.4,
        positive: false,
        label: 'normal',
        positiveClass: 'covid',
        task: taskFor(['normal', 'covid'], 1),
      },
      model,
      resultUids(src.studyUid, src.sopUid, model.sha256),
    );
    writeFileSync(join(dir, 'sr.dcm'), writeDicomFile(sr));
    const r = await run(['pacs', 'dump-sr', join(dir, 'sr.dcm')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\(0008,0060\) Modality = SR/);
    assert.match(
      r.out,
      /CONTAINS NUM \(probability, 99CXRTUNE, "Probability of COVID-19 pneumonia"\) = 0\.125 \[FD 0\.125\]/,
    );
    assert.match(
      r.out,
      new RegExp(
        /CONTAINS TEXT \(decision, 99CXRTUNE, "Decision"\) = /.source +
          /"negative: normal \(probability of COVID-19 pneumonia 0\.125 < threshold 0\.4\)"/.source,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pacs follow: a bad --pacs URL is one line, exit 1', async () => {
  const r = await run(['pacs', 'follow', '--model', '/nowhere', '--pacs', 'ftp://pacs']);
  assert.equal(r.code, 1);
  assert.equal(r.err.trim(), 'error: --pacs: the URL must be http:// or https:// (got ftp:)');
  const r2 = await run(['pacs', 'follow', '--model', '/nowhere', '--pacs', 'not a url']);
  assert.equal(r2.err.trim(), 'error: --pacs: not a URL (expected e.g. http://127.0.0.1:8042)');
});
