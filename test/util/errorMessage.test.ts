import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { errorMessage } from '../../src/util/errorMessage.js';
import { encodeDicom } from '../data/helpers/dicomWriter.js';

test('errorMessage: Errors, strings, wrapper objects and empty values all read as one line', () => {
  assert.equal(errorMessage(new Error('disk full')), 'disk full');
  assert.equal(
    errorMessage('dicomParser.readPart10Header: DICM prefix not found'),
    'dicomParser.readPart10Header: DICM prefix not found',
  );
  assert.equal(errorMessage({ exception: 'buffer overrun', dataSet: {} }), 'buffer overrun');
  assert.equal(errorMessage({ exception: new Error('nested') }), 'nested');
  assert.equal(errorMessage({ message: 'plain object' }), 'plain object');
  assert.equal(errorMessage(42), '42');
  assert.equal(errorMessage({}), 'unknown error (a thrown object with no message)');
  assert.equal(errorMessage(undefined), 'unknown error (a thrown undefined with no message)');
  assert.equal(errorMessage(null), 'unknown error (a thrown null with no message)');
  assert.equal(errorMessage(new Error('')), 'Error');
  assert.equal(
    errorMessage(new Error('VipsJpeg: premature end\nVipsJpeg: no image\n')),
    'VipsJpeg: premature end; VipsJpeg: no image',
  );
  assert.equal(errorMessage(new Error('first\nsecond'), { firstLine: true }), 'first');
  assert.equal(errorMessage('bad \x1b[31mred\x1b[0m name'), 'bad \\x1b[31mred\\x1b[0m name');
  assert.equal(errorMessage('x'.repeat(5000)).length, 1000);
});

test('what dicom-parser really throws on a truncated file is an object, and reads as its text', () => {
  const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');
  const buf = encodeDicom({ rows: 32, columns: 32 });
  let thrown: unknown;
  try {
    dicomParser.parseDicom(buf.subarray(0, buf.length - 1000));
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown && !(thrown instanceof Error), 'dicom-parser throws a non-Error');
  assert.equal(String(thrown), '[object Object]'); // what users used to see
  assert.match(errorMessage(thrown), /buffer overrun/);
});
