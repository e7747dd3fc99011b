// Every figure names its protocol: internal (same sources as training), source-held-out
// (groups of a --split-by manifest that never fed training), external (no training source).
// The report headlines the honest figure; an internal one is labelled and, on real data, not headlined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decideProtocol, manifestSplitBy, protocolOf } from '../../src/app/evaluate/protocol.js';
import { headlineEvaluation } from '../../src/app/report/summarySection.js';
import { limitations } from '../../src/app/report/limitations.js';
import type { Evaluation } from '../../src/app/evaluate/evaluationRecord.js';

const row = (source: string, location?: string) => ({
  source,
  extra: location ? { location } : ({} as Record<string, string>),
});

test('decideProtocol: external, source-held-out, internal — never more favourable than can be shown', () => {
  const train = [row('covid-chestxray', 'Italy'), row('covid-chestxray', 'Spain'), row('nih'), row('montgomery')];
  assert.equal(decideProtocol([row('figure1')], train, null).protocol, 'external');
  const held = decideProtocol([row('covid-chestxray', 'Wuhan, China'), row('shenzhen')], train, 'location');
  assert.equal(held.protocol, 'source-held-out');
  assert.match(held.why, /split by location: its 2 location group\(s\) never fed the training split/);
  const leaky = decideProtocol([row('covid-chestxray', 'Italy'), row('shenzhen')], train, 'location');
  assert.equal(leaky.protocol, 'internal');
  assert.match(leaky.why, /1 of its 2 location group\(s\) also fed the training split/);
  // A patient split of the same sources: internal. By source: the nih group fed training.
  assert.equal(decideProtocol([row('covid-chestxray', 'Italy'), row('nih')], train, 'patient').protocol, 'internal');
  assert.equal(decideProtocol([row('nih')], train, 'source').protocol, 'internal');
  assert.equal(decideProtocol([row('shenzhen')], train, 'source').protocol, 'external');
  // Leave-collection-out validation: whole collections held out by design, so SOURCE-HELD-OUT, not EXTERNAL;
  // a collection that also trained makes it internal.
  const coll = decideProtocol([row('cxnet', 'Spain'), row('shenzhen')], train, 'collection');
  assert.equal(coll.protocol, 'source-held-out');
  assert.match(coll.why, /split by collection: its collections \(cxnet, shenzhen\) never fed the training split/);
  assert.equal(decideProtocol([row('cxnet'), row('nih')], train, 'collection').protocol, 'internal');
  assert.equal(decideProtocol([row('cxnet')], train, 'patient').protocol, 'external');
  // Phantoms: one source throughout.
  assert.match(
    decideProtocol([row('phantom')], [row('phantom')], null).why,
    /every image comes from one source \(phantom\)/,
  );
  // Training rows unknown: external only on the caller's evidence, else internal.
  assert.equal(decideProtocol([row('x')], null, 'location').protocol, 'internal');
  assert.equal(decideProtocol([row('x')], null, null, true).protocol, 'external');
});

test('manifestSplitBy reads summary.json beside the manifest', () => {
  const d = mkdtempSync(join(tmpdir(), 'cxr-proto-'));
  assert.equal(manifestSplitBy(join(d, 'manifest.csv')), null);
  writeFileSync(join(d, 'summary.json'), JSON.stringify({ splitBy: 'location' }));
  assert.equal(manifestSplitBy(join(d, 'manifest.csv')), 'location');
  writeFileSync(join(d, 'summary.json'), JSON.stringify({ images: 3 }));
  assert.equal(manifestSplitBy(join(d, 'manifest.csv')), 'patient', 'written before --split-by existed');
});

function ev(
  name: string,
  protocol: 'internal' | 'source-held-out' | 'external' | undefined,
  external = false,
): Evaluation {
  const p = { value: 0.8, lo: 0.7, hi: 0.9, num: 80, den: 100 };
  return {
    name,
    data: { external },
    overlap: { sharedPatients: 0, checked: true, note: '' },
    metrics: {
      n: 200,
      positives: 100,
      negatives: 100,
      sensitivity: p,
      specificity: p,
      accuracy: p,
      calibration: { ece: 0.02 },
      auc: { value: 0.9, lo: 0.85, hi: 0.95 },
    },
    ...(protocol ? { protocol: { protocol, why: 'test' } } : {}),
  } as unknown as Evaluation;
}

test('the report headlines source-held-out, then external; internal only when nothing else exists', () => {
  const internal = ev('internal valid', 'internal');
  const held = ev('held-out sites', 'source-held-out');
  const ext = ev('figure1', 'external');
  assert.equal(headlineEvaluation([internal, ext, held])!.name, 'held-out sites');
  assert.equal(headlineEvaluation([internal, ext])!.name, 'figure1');
  assert.equal(headlineEvaluation([internal])!.name, 'internal valid');
  assert.equal(headlineEvaluation([]), undefined);
  // Evaluations written before the protocol was recorded: external flag, else internal.
  assert.equal(protocolOf(ev('old', undefined, true)).protocol, 'external');
  assert.equal(protocolOf(ev('old', undefined, false)).protocol, 'internal');
  const lim = (es: Evaluation[]) => limitations(null, es, 'covid').join('\n');
  assert.match(
    lim([internal]),
    new RegExp(
      /No source-held-out or external validation: every evaluated set /.source +
        /holds out patients of the training sources \(INTERNAL\)/.source,
    ),
  );
  assert.match(lim([internal, held]), /SOURCE-HELD-OUT.*no fully external set/);
  assert.doesNotMatch(lim([held, ext]), /No source-held-out|no fully external/);
});
