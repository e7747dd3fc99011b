// The task as data (data/task.ts): the finding's words and code follow from the class names
// through one table (COVID-19, tuberculosis, pneumonia), an unknown class is named as spelled,
// a dataset's declaration wins for its own positive class only, and more than two classes work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classDisplayName, manifestTask, readTaskDeclaration, taskFor, taskOfModel } from '../../src/data/task.js';

test('the finding follows from the positive class: COVID-19 and tuberculosis, each with its SNOMED CT code', () => {
  const covid = taskFor(['normal', 'covid'], 1);
  assert.equal(covid.finding, 'COVID-19 pneumonia');
  assert.deepEqual(covid.code, { value: '840539006', scheme: 'SCT', meaning: 'COVID-19' });
  assert.deepEqual(covid.classNames, { normal: 'normal', covid: 'COVID-19' });
  // The intended use the model card showed before the task existed, word for word.
  assert.equal(
    covid.intendedUse,
    'Research prototype to help prioritise frontal (PA/AP) adult chest radiographs for review for COVID-19 ' +
      'pneumonia patterns. Not validated for children, lateral views, other diseases, or as a sole basis for ' +
      'clinical decisions.',
  );
  const tb = taskFor(['normal', 'tuberculosis'], 1);
  assert.equal(tb.finding, 'tuberculosis');
  assert.deepEqual(tb.code, { value: '154283005', scheme: 'SCT', meaning: 'Pulmonary tuberculosis' });
  assert.doesNotMatch(JSON.stringify(tb), /covid/i);
  assert.equal(taskFor(['negative', 'TB'], 1).code.value, '154283005');
});

test("an unknown class is named as spelled under cxrtune's scheme; three classes keep every display name", () => {
  const t = taskFor(['normal', 'nodule_mass'], 1);
  assert.equal(t.finding, 'nodule mass');
  assert.deepEqual(t.code, { value: 'nodulemass', scheme: '99CXRTUNE', meaning: 'nodule mass' });
  assert.match(t.intendedUse, /for review for nodule mass\./);
  const three = taskFor(['normal', 'covid', 'other-pneumonia'], 1);
  assert.equal(three.positive, 'covid');
  assert.deepEqual(three.classNames, { normal: 'normal', covid: 'COVID-19', 'other-pneumonia': 'other pneumonia' });
  assert.equal(taskFor(['normal', 'covid', 'other-pneumonia'], 2).finding, 'pneumonia (not COVID-19)');
  assert.equal(classDisplayName('non-covid'), 'not COVID-19');
  assert.throws(() => taskFor(['a', 'b'], 2), /positive class 2 is not one of 2/);
});

test("a declaration wins for its own positive class only; model.json's record is read back", () => {
  const decl = { positive: 'tuberculosis', finding: 'active pulmonary TB', intendedUse: 'triage' };
  const t = taskFor(['normal', 'tuberculosis'], 1, decl);
  assert.equal(t.finding, 'active pulmonary TB');
  assert.equal(t.intendedUse, 'triage');
  assert.equal(t.code.value, '154283005'); // not declared: the table's
  // Declared for another class (data built for one task, trained for another): ignored.
  assert.equal(taskFor(['normal', 'covid'], 1, decl).finding, 'COVID-19 pneumonia');
  assert.equal(readTaskDeclaration({ finding: 'x' }), null);
  assert.deepEqual(readTaskDeclaration({ positive: 'p', classNames: { p: 'P', q: 3 } }), {
    positive: 'p',
    classNames: { p: 'P' },
  });
  assert.equal(
    taskOfModel({ classes: ['normal', 'tuberculosis'], positiveClass: 1, task: decl }).finding,
    decl.finding,
  );
  assert.equal(taskOfModel({ classes: ['normal', 'covid'], positiveClass: 1 }).finding, 'COVID-19 pneumonia');
  const dir = mkdtempSync(join(tmpdir(), 'cxrtune-task-'));
  try {
    assert.equal(manifestTask(join(dir, 'manifest.csv')), null);
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({ task: decl }));
    assert.deepEqual(manifestTask(join(dir, 'manifest.csv')), decl);
    writeFileSync(join(dir, 'summary.json'), '{ not json');
    assert.equal(manifestTask(join(dir, 'manifest.csv')), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
