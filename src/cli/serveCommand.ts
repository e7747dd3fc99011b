// `cxrtune serve`: the screening web page and REST API over one trained model.
import type { Command } from 'commander';
import { loadServedModel } from '../app/serve/servedModel.js';
import { buildServer } from '../app/serve/server.js';
import { SERVE_DEFAULTS } from '../app/serve/serveOptions.js';
import { DEFAULT_MAX_STUDY_PIXELS } from '../app/serve/screen.js';
import { intArg } from './args.js';
import { resolveToken } from '../app/serve/tokenSource.js';
import { addPacsOptions, pacsOptionsFrom } from './pacsArgs.js';

export function registerServeCommand(program: Command): void {
  addPacsOptions(program.command('serve'))
    .description(
      'serve a model to clinicians: web page (upload a CXR → probability, decision, Grad-CAM) and REST API, with an audit log',
    )
    .requiredOption('--model <dir>', 'run folder (uses checkpoints/best, else last) or checkpoint folder')
    .option('--host <addr>', 'listen address; anything but loopback needs a token', SERVE_DEFAULTS.host)
    .option('--port <n>', 'port (0 = any free port)', intArg, SERVE_DEFAULTS.port)
    .option('--token-file <file>', 'file holding the bearer token the API requires (default: env CXRTUNE_TOKEN)')
    .option('--token <t>', 'the token on the command line (visible in `ps`: prefer --token-file or CXRTUNE_TOKEN)')
    .option('--db <file>', 'SQLite audit log', SERVE_DEFAULTS.db)
    .option('--max-body-mb <n>', 'request body limit in MB', intArg, SERVE_DEFAULTS.bodyLimit / 1024 / 1024)
    .option('--max-pixels <n>', 'pixel-count limit per image', intArg, DEFAULT_MAX_STUDY_PIXELS)
    .option('--timeout-ms <n>', 'per-request processing timeout', intArg, SERVE_DEFAULTS.timeoutMs)
    .option(
      '--rate-limit <n>',
      'requests per minute per client on the API (0 = none)',
      intArg,
      SERVE_DEFAULTS.rateLimit,
    )
    .option('--queue <n>', 'studies in flight at most; more get 503 + Retry-After', intArg, 32)
    .option('--max-batch <n>', 'studies per engine call at most', intArg, 4)
    .option('--threads <n>', 'intra-op threads (default: physical cores)', intArg)
    .option('--device <dev>', 'cpu or cuda:N', 'cpu')
    .option(
      '--lungs <dir>',
      'lung segmenter (cxrtune lungs train): each result shows the lung outline and the share of the Grad-CAM evidence inside the lungs, with a warning when most lies outside',
    )
    .option('--quiet', 'no line per request on stderr')
    .action(async (o) => {
      const warn = (l: string) => process.stderr.write(`${l}\n`);
      const token = resolveToken({ token: o.token, tokenFile: o.tokenFile, env: process.env.CXRTUNE_TOKEN }, warn);
      const served = await loadServedModel(o.model, {
        device: o.device,
        threads: o.threads,
        ...(o.lungs ? { lungs: o.lungs } : {}),
        warn,
      });
      const server = await buildServer(served, {
        host: o.host,
        port: o.port,
        ...(token ? { token } : {}),
        db: o.db,
        bodyLimit: o.maxBodyMb * 1024 * 1024,
        maxPixels: o.maxPixels,
        timeoutMs: o.timeoutMs,
        queue: { capacity: o.queue, maxBatch: o.maxBatch },
        rateLimit: o.rateLimit,
        pacs: pacsOptionsFrom(o),
        ...(o.quiet ? {} : { log: (l: string) => process.stderr.write(`${l}\n`) }),
      });
      const url = await server.listen();
      const m = served.meta;
      console.log(
        `cxrtune serve: ${m.arch} (${m.classes.join('/')}, threshold ${m.threshold}, sha256 ${served.sha256.slice(0, 12)}) on ${url}`,
      );
      console.log(
        `  page ${url}/   API ${url}/api/v1/openapi.json   audit log ${o.db}${token ? '   token required' : ''}`,
      );
      if (server.pacs)
        console.log(
          `  worklist ${url}/worklist   STOW-RS ${url}/api/v1/studies${server.pacs.client ? `   following ${server.pacs.client.base}` : ''}`,
        );
      const stop = async () => {
        process.stderr.write('cxrtune serve: stopping\n');
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
