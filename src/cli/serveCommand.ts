// `cxrtune serve`: the screening web page and REST API over one trained model.
import type { Command } from 'commander';
import { loadServedModel } from '../app/serve/servedModel.js';
import { buildServer } from '../app/serve/server.js';
import { SERVE_DEFAULTS } from '../app/serve/serveOptions.js';
import { DEFAULT_MAX_STUDY_PIXELS } from '../app/serve/screen.js';
import { act } from './act.js';
import {
  deviceOption,
  intOption,
  lungsOption,
  maxBatchOption,
  modelOption,
  quietOption,
  threadsOption,
} from './options.js';
import { resolveToken } from '../app/serve/tokenSource.js';
import { addPacsOptions, pacsOptionsFrom } from './pacsArgs.js';

export function registerServeCommand(program: Command): void {
  addPacsOptions(program.command('serve'))
    .description(
      'serve a model to clinicians: web page (upload a CXR → probability, decision, Grad-CAM) and ' +
        'REST API, with an audit log',
    )
    .addOption(
      modelOption('run folder (uses checkpoints/best, else last) or checkpoint folder', { required: true, arg: 'dir' }),
    )
    .option('--host <addr>', 'listen address; anything but loopback needs a token', SERVE_DEFAULTS.host)
    .addOption(intOption('--port <n>', 'port (0 = any free port)', { max: 65535, def: SERVE_DEFAULTS.port }))
    .option('--token-file <file>', 'file holding the bearer token the API requires (default: env CXRTUNE_TOKEN)')
    .option('--token <t>', 'the token on the command line (visible in `ps`: prefer --token-file or CXRTUNE_TOKEN)')
    .option('--db <file>', 'SQLite audit log', SERVE_DEFAULTS.db)
    .addOption(
      intOption('--max-body-mb <n>', 'request body limit in MB', { def: SERVE_DEFAULTS.bodyLimit / 1024 / 1024 }),
    )
    .addOption(intOption('--max-pixels <n>', 'pixel-count limit per image', { def: DEFAULT_MAX_STUDY_PIXELS }))
    .addOption(intOption('--timeout-ms <n>', 'per-request processing timeout', { def: SERVE_DEFAULTS.timeoutMs }))
    .addOption(
      intOption('--rate-limit <n>', 'requests per minute per client on the API (0 = none)', {
        def: SERVE_DEFAULTS.rateLimit,
      }),
    )
    .addOption(intOption('--queue <n>', 'studies in flight at most; more get 503 + Retry-After', { def: 32 }))
    .addOption(maxBatchOption())
    .addOption(threadsOption())
    .addOption(deviceOption('cpu or cuda:N', 'cpu'))
    .addOption(
      lungsOption(
        'a lung-cropping model crops each study with it; each result shows the lung outline and the share of the ' +
          'Grad-CAM evidence inside the lungs, with a warning when most lies outside',
      ),
    )
    .addOption(quietOption('no line per request on stderr'))
    .action(
      act(async (o) => {
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
          `cxrtune serve: ${m.arch} (${m.classes.join('/')}, threshold ${m.threshold}, sha256 ` +
            `${served.sha256.slice(0, 12)}) on ${url}`,
        );
        console.log(
          `  page ${url}/   API ${url}/api/v1/openapi.json   audit log ${o.db}${token ? '   token required' : ''}`,
        );
        if (server.pacs)
          console.log(
            `  worklist ${url}/worklist   STOW-RS ` +
              `${url}/api/v1/studies${server.pacs.client ? `   following ${server.pacs.client.base}` : ''}`,
          );
        const stop = async () => {
          process.stderr.write('cxrtune serve: stopping\n');
          await server.close();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }),
    );
}
