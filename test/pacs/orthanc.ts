// Test helper: a real Orthanc (Debian's `orthanc` + `orthanc-dicomweb`) on a free port with
// its own configuration and a temporary storage folder; stop and start again on the same
// storage to play a PACS outage.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadServedModel, type ServedModel } from '../../src/app/serve/servedModel.js';
import { makeCheckpoint } from '../serve/fixture.js';
import { HANG_MS } from '../helpers/waitFor.js';

const ORTHANC_BIN = '/usr/sbin/Orthanc';
const PLUGIN_CANDIDATES = [
  '/usr/share/orthanc/plugins/libOrthancDicomWeb.so',
  '/usr/lib/orthanc/libOrthancDicomWeb.so',
];
const DICOMWEB_PLUGIN = PLUGIN_CANDIDATES.find((p) => existsSync(p));

/** Why the Orthanc tests cannot run here, or false. */
export const orthancSkip: string | false = !existsSync(ORTHANC_BIN)
  ? `${ORTHANC_BIN} is not installed (apt-get install orthanc orthanc-dicomweb; scripts/bootstrap.sh does it)`
  : !DICOMWEB_PLUGIN
    ? 'the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)'
    : false;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export class Orthanc {
  private proc: ChildProcess | null = null;
  readonly url: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(dir: string): Promise<Orthanc> {
    const o = new Orthanc(dir, await freePort());
    mkdirSync(join(dir, 'storage'), { recursive: true });
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify(
        {
          Name: 'cxrtune-test',
          StorageDirectory: join(dir, 'storage'),
          IndexDirectory: join(dir, 'storage'),
          HttpPort: o.port,
          DicomServerEnabled: false,
          RemoteAccessAllowed: false,
          AuthenticationEnabled: false,
          HttpCompressionEnabled: false,
          StableAge: 1,
          Plugins: [DICOMWEB_PLUGIN],
          DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: false },
        },
        null,
        1,
      ),
    );
    await o.start();
    return o;
  }

  async start(): Promise<void> {
    const log = openSync(join(this.dir, 'orthanc.log'), 'a');
    const proc = spawn(ORTHANC_BIN, [join(this.dir, 'config.json')], { stdio: ['ignore', log, log] });
    this.proc = proc;
    closeSync(log);
    // A test run that dies without its after() hook must not leave Orthanc behind.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.removeListener('exit', reap));
    const deadline = Date.now() + HANG_MS;
    for (;;) {
      try {
        const r = await fetch(`${this.url}/system`);
        if (r.ok) return;
      } catch {
        /* not up yet */
      }
      if (this.proc.exitCode !== null)
        throw new Error(`Orthanc exited (${this.proc.exitCode}); see ${join(this.dir, 'orthanc.log')}`);
      if (Date.now() > deadline) {
        throw new Error(`Orthanc did not start in ${HANG_MS / 1000} s; see ${join(this.dir, 'orthanc.log')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    this.proc = null;
  }

  /** POST /instances (Orthanc's REST upload); returns Orthanc's instance id. */
  async upload(bytes: Buffer): Promise<{ id: string; status: string }> {
    const r = await fetch(`${this.url}/instances`, {
      method: 'POST',
      body: new Uint8Array(bytes) as Uint8Array<ArrayBuffer>,
      headers: { 'content-type': 'application/dicom' },
    });
    if (!r.ok) throw new Error(`Orthanc refused the upload: ${r.status} ${await r.text()}`);
    const j = (await r.json()) as { ID: string; Status: string };
    return { id: j.ID, status: j.Status };
  }

  async get<T>(path: string): Promise<T> {
    const r = await fetch(this.url + path);
    if (!r.ok) throw new Error(`Orthanc GET ${path}: ${r.status}`);
    return (await r.json()) as T;
  }

  async file(instanceId: string): Promise<Buffer> {
    const r = await fetch(`${this.url}/instances/${instanceId}/file`);
    if (!r.ok) throw new Error(`Orthanc file ${instanceId}: ${r.status}`);
    return Buffer.from(await r.arrayBuffer());
  }

  /** Instances of the study holding this Study Instance UID, with their main tags. */
  async studyInstances(
    studyUid: string,
  ): Promise<Array<{ ID: string; MainDicomTags: Record<string, string>; Modality: string }>> {
    const ids = (await fetch(`${this.url}/tools/lookup`, { method: 'POST', body: studyUid }).then((r) =>
      r.json(),
    )) as Array<{ ID: string; Type: string }>;
    const study = ids.find((x) => x.Type === 'Study');
    if (!study) return [];
    const inst = await this.get<Array<{ ID: string; MainDicomTags: Record<string, string>; ParentSeries: string }>>(
      `/studies/${study.ID}/instances`,
    );
    const out = [];
    for (const i of inst) {
      const series = await this.get<{ MainDicomTags: { Modality: string } }>(`/series/${i.ParentSeries}`);
      out.push({ ID: i.ID, MainDicomTags: i.MainDicomTags, Modality: series.MainDicomTags.Modality });
    }
    return out;
  }
}

/** What a PACS test needs: a temp folder, a servable checkpoint, and a running Orthanc. */
export interface PacsFixture {
  tmp: string;
  ckpt: string;
  served: ServedModel;
  orthanc: Orthanc;
  dispose(): Promise<void>;
}

export async function pacsFixture(prefix: string): Promise<PacsFixture> {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const ckpt = await makeCheckpoint();
  const served = await loadServedModel(ckpt);
  const orthanc = await Orthanc.create(join(tmp, 'orthanc'));
  return {
    tmp,
    ckpt,
    served,
    orthanc,
    async dispose() {
      await orthanc.stop();
      rmSync(tmp, { recursive: true, force: true });
      rmSync(ckpt, { recursive: true, force: true });
    },
  };
}
