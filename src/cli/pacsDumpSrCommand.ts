// `cxrtune pacs dump-sr FILE`: print a DICOM SR file's attributes and content tree.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readDicomFile } from '../app/pacs/dicomFile.js';
import { dumpSr } from '../app/pacs/srDump.js';
import { act } from './act.js';

export function registerPacsDumpSr(pacs: Command): void {
  pacs
    .command('dump-sr')
    .description('print a DICOM SR file: its attributes and content tree')
    .argument('<file>', 'DICOM Part 10 file')
    .action(
      act((file: string) => {
        process.stdout.write(dumpSr(readDicomFile(readFileSync(file))));
      }),
    );
}
