// One rank of a 2-process group with the heartbeat timings given in the environment
// (HB_MS, HB_SILENCE_MS): rank 1 leaves at once; rank 0's next all-reduce fails and it writes the
// error, which names the rank that stopped, to $HB_OUT/error.txt. Used by test/engine/distributed.test.ts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { distEnvFrom, ProcessGroup } from '../../../src/engine/distributed.js';
import { errorMessage } from '../../../src/util/errorMessage.js';

const env = distEnvFrom();
if (!env || !process.env.HB_OUT) throw new Error('run by the launcher, with HB_OUT set');
const group = await ProcessGroup.init({
  ...env,
  timeoutMs: 20_000,
  glooThreads: 1,
  heartbeatMs: Number(process.env.HB_MS),
  heartbeatSilenceMs: Number(process.env.HB_SILENCE_MS),
});
await group.barrier();
if (group.rank === 1) process.exit(0);
try {
  await group.allReduce(Float32Array.from([1]));
  writeFileSync(join(process.env.HB_OUT, 'error.txt'), 'no error');
} catch (e) {
  writeFileSync(join(process.env.HB_OUT, 'error.txt'), errorMessage(e));
}
process.exit(0);
