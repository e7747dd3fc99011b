// The PACS-link options of `cxrtune serve` (and `cxrtune pacs follow`), in one place.
import type { Command } from 'commander';
import { PACS_DEFAULTS, type PacsOptions } from '../app/pacs/pacsOptions.js';
import { PacsClient } from '../app/pacs/pacsClient.js';
import { intOption } from './options.js';

export function addPacsOptions(cmd: Command, opts: { required?: boolean } = {}): Command {
  (opts.required
    ? cmd.requiredOption(
        '--pacs <url>',
        'Orthanc to follow and send results to, e.g. http://127.0.0.1:8042 (user:password@ in the URL for Basic auth)',
      )
    : cmd.option(
        '--pacs <url>',
        'follow this Orthanc (new CR/DX frontal chest instances are screened; SR + Grad-CAM overlay ' +
          'stored back by STOW-RS)',
      )
  )
    .option('--worklist <file>', 'SQLite worklist and retry queue of the PACS link', PACS_DEFAULTS.worklist)
    .addOption(
      intOption('--pacs-poll-ms <n>', 'how often to ask the PACS for new instances', { def: PACS_DEFAULTS.pollMs }),
    )
    .option(
      '--pacs-from-start',
      'on the first start, screen what the PACS already holds too (default: only new instances)',
    );
  if (!opts.required)
    cmd.option('--stow', 'accept STOW-RS pushes at /api/v1/studies and keep a worklist even without --pacs');
  return cmd;
}

/** The PacsOptions of parsed flags, or undefined when the PACS link is off. */
export function pacsOptionsFrom(o: {
  pacs?: string;
  worklist: string;
  pacsPollMs: number;
  pacsFromStart?: boolean;
  stow?: boolean;
}): PacsOptions | undefined {
  if (!o.pacs && !o.stow) return undefined;
  if (o.pacs) new PacsClient(o.pacs); // a bad URL is a one-line error before the model loads
  return {
    ...(o.pacs ? { url: o.pacs } : {}),
    worklist: o.worklist,
    pollMs: o.pacsPollMs,
    ...(o.pacsFromStart ? { fromStart: true } : {}),
  };
}
