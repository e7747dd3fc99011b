// The shared option builders: one integer/number parser that names its flag when it refuses a
// value, and --backend refusing what this addon cannot run at parse time, with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command, CommanderError } from 'commander';
import { intParser, numParser } from '../../src/cli/options.js';
import { registerTrainCommand } from '../../src/cli/trainCommand.js';
import { registerEvaluateCommand } from '../../src/cli/evaluateCommand.js';
import { registerServeCommand } from '../../src/cli/serveCommand.js';

/** Parses argv with the given commands; returns what commander wrote on stderr, or null when it accepted. */
async function parseError(register: (p: Command) => void, args: string[]): Promise<string | null> {
  let err = '';
  const program = new Command('cxrtune').exitOverride().configureOutput({ writeErr: (s) => (err += s) });
  register(program);
  // No action may run: every case is refused while the flags are parsed.
  for (const c of program.commands) c.action(() => assert.fail(`${c.name()} ran`));
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    assert.ok(e instanceof CommanderError);
    assert.equal(e.exitCode, 1);
    return err;
  }
  return null;
}

test('--threads refuses -1, 1.5, x and 0 with the flag named; 3 is 3', async () => {
  for (const v of ['-1', '1.5', 'x', '0', '']) {
    const err = await parseError(registerTrainCommand, ['train', '--threads', v]);
    assert.equal(
      err,
      `error: option '--threads <n>' argument '${v}' is invalid. --threads: '${v}' is not an integer >= 1\n`,
    );
  }
  // Every command's --threads is the same option.
  assert.equal(
    await parseError(registerEvaluateCommand, ['evaluate', '--threads', '-1']),
    "error: option '--threads <n>' argument '-1' is invalid. --threads: '-1' is not an integer >= 1\n",
  );
  assert.equal(intParser('--threads', { min: 1 })('3'), 3);
});

test('the integer parser: range bounds, each refusal naming the flag', () => {
  const port = intParser('--port', { max: 65535 });
  assert.equal(port('0'), 0);
  assert.equal(port('65535'), 65535);
  assert.throws(() => port('65536'), { message: "--port: '65536' is not an integer in [0, 65535]" });
  assert.throws(() => port('-1'), { message: "--port: '-1' is not an integer in [0, 65535]" });
  assert.throws(() => port('1e3x'), { message: "--port: '1e3x' is not an integer in [0, 65535]" });
  assert.equal(intParser('--seed')('1e3'), 1000);
});

test('the number parser: finite numbers only, in range', () => {
  const lr = numParser('--lr-max');
  assert.equal(lr('3e-3'), 0.003);
  assert.equal(lr('-2'), -2);
  assert.throws(() => lr('fast'), { message: "--lr-max: 'fast' is not a number" });
  assert.throws(() => lr('Infinity'), { message: "--lr-max: 'Infinity' is not a number" });
  assert.throws(() => lr(' '), { message: "--lr-max: ' ' is not a number" });
  assert.throws(() => numParser('--p', { min: 0, max: 1 })('1.5'), { message: '--p: 1.5 is not in [0, 1]' });
});

test('--backend nccl is refused at parse time with its reason; gloo is accepted', async () => {
  const why =
    '--backend nccl needs ProcessGroupNCCL from a CUDA libtorch; this addon is built with Gloo only ' +
    '(use --backend gloo)';
  for (const register of [registerTrainCommand, registerEvaluateCommand]) {
    const name = register === registerTrainCommand ? 'train' : 'evaluate';
    assert.equal(
      await parseError(register, [name, '--backend', 'nccl']),
      `error: option '--backend <b>' argument 'nccl' is invalid. ${why}\n`,
    );
    assert.equal(
      await parseError(register, [name, '--backend', 'mpi']),
      "error: option '--backend <b>' argument 'mpi' is invalid. " +
        "--backend: 'mpi' is not a backend this addon has (gloo)\n",
    );
  }
  // gloo parses (the stub action below fails the test only if the parse went wrong elsewhere).
  const program = new Command('cxrtune').exitOverride();
  registerTrainCommand(program);
  let got: unknown;
  program.commands[0]!.action((o: { backend?: string }) => {
    got = o.backend;
  });
  await program.parseAsync(['train', '--backend', 'gloo'], { from: 'user' });
  assert.equal(got, 'gloo');
});

test('serve keeps its numeric defaults through the shared builders', async () => {
  const program = new Command('cxrtune').exitOverride();
  registerServeCommand(program);
  let got: Record<string, unknown> = {};
  program.commands[0]!.action((o: Record<string, unknown>) => {
    got = o;
  });
  await program.parseAsync(['serve', '--model', 'm', '--port', '8081'], { from: 'user' });
  assert.equal(got.port, 8081);
  assert.equal(got.maxBatch, 4);
  assert.equal(got.queue, 32);
  assert.equal(got.device, 'cpu');
  assert.equal(got.threads, undefined);
});
