// A stand-alone `cxrtune` with only the train and lr-find commands, for subprocess CLI tests.
// HOLD_RANK1_FILE=PATH: the data-parallel worker of rank 1 stops after its first epoch, writes
// its pid to PATH and waits there until it is killed, so a test kills it at a known point: its
// peers are then waiting for it in the next epoch's first step.
import { renameSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerTrainCommand } from '../../src/cli/trainCommand.js';
import { registerLrFindCommand } from '../../src/cli/lrFindCommand.js';
import type { TrainerCallback } from '../../src/recipe/callbacks.js';

const holdFile = process.env.HOLD_RANK1_FILE;
const hold: TrainerCallback = {
  async onEpochEnd(r) {
    if (r.epoch !== 0) return;
    writeFileSync(`${holdFile}.tmp`, String(process.pid));
    renameSync(`${holdFile}.tmp`, holdFile!); // the reader never sees half a pid
    // Held until killed; orphaned (the test gone), it leaves instead of lingering.
    const parent = process.ppid;
    await new Promise(() =>
      setInterval(() => {
        if (process.ppid !== parent) process.exit(4);
      }, 500),
    );
  },
};

const program = new Command('cxrtune');
registerLrFindCommand(program);
registerTrainCommand(program, { callbacks: () => (holdFile && process.env.RANK === '1' ? [hold] : []) });
await program.parseAsync(process.argv);
