// The bounded path from requests to the engine. At most `capacity` studies are in flight
// (decoding, waiting or computing); one more is refused at once with a Retry-After estimate
// rather than queued without bound. Decoding runs a few at a time on libuv's pool; the
// engine step takes up to `maxBatch` decoded studies per call (one Grad-CAM pass), so a
// burst is served in fewer, larger calls. A request that times out leaves the queue if it
// has not reached the engine; a study already in the engine finishes and keeps its slot
// until then, so the bound stays true. With the model's ood.json, a study that is not a frontal
// chest radiograph is refused (StudyRefusedError): by its lung fields before the engine, by its
// features after it.
import type { CheckpointMeta } from '../../engine/checkpoint.js';
import type { InferenceModel } from '../../engine/types.js';
import {
  decide,
  inferStudies,
  prepareStudy,
  renderStudy,
  type PreparedStudy,
  type PreprocessOptions,
  type RenderedStudy,
  type StudyInference,
} from './screen.js';
import type { FrontalVerdict, OodRecord } from '../../recipe/frontalCheck.js';
import { refuseUnlessFrontal } from './frontalRefusal.js';

export interface QueueOptions {
  /** Studies in flight at most (default 32). */
  capacity?: number;
  /** Studies per engine call at most (default 4). */
  maxBatch?: number;
  /** Concurrent decodes (default 2). */
  decodeConcurrency?: number;
}

export class QueueFullError extends Error {
  constructor(readonly retryAfterS: number) {
    super(`the screening queue is full; retry in ${retryAfterS} s`);
  }
}
export class AbortedError extends Error {}

export interface QueuedResult extends RenderedStudy, StudyInference {
  study: PreparedStudy;
  positive: boolean;
  label: string;
  /** The threshold the decision was made at (the checkpoint's). */
  threshold: number;
  /** The refusal's checks, all passed (a refused study throws StudyRefusedError instead). */
  frontal: FrontalVerdict;
  timings: { decodeMs: number; queueMs: number; inferMs: number; renderMs: number; batch: number };
}

interface Pending {
  study: PreparedStudy;
  readyAt: number;
  resolve: (r: { inf: StudyInference; inferMs: number; batch: number; queueMs: number }) => void;
  reject: (e: unknown) => void;
}

export class StudyQueue {
  readonly capacity: number;
  private readonly maxBatch: number;
  private readonly decodeSlots: number;
  private inFlight = 0;
  private decoding = 0;
  private readonly decodeWaiters: Array<() => void> = [];
  private readonly pending: Pending[] = [];
  private engineBusy = false;
  private paused = false;
  /** Running mean of engine time per study, for Retry-After. */
  private msPerStudy = 200;

  constructor(
    private readonly model: InferenceModel,
    private readonly meta: CheckpointMeta,
    private readonly pre: PreprocessOptions,
    opts: QueueOptions = {},
    /** The model's ood.json: with it, and with a lung segmenter in `pre`, what is not a frontal CXR is refused. */
    private readonly ood: OodRecord | null = null,
  ) {
    this.capacity = opts.capacity ?? 32;
    this.maxBatch = opts.maxBatch ?? 4;
    this.decodeSlots = opts.decodeConcurrency ?? 2;
    for (const [k, v] of Object.entries({
      capacity: this.capacity,
      maxBatch: this.maxBatch,
      decodeConcurrency: this.decodeSlots,
    })) {
      if (!(Number.isInteger(v) && v >= 1)) throw new Error(`queue ${k} must be an integer >= 1 (got ${v})`);
    }
  }

  stats(): { inFlight: number; capacity: number; waitingForEngine: number } {
    return { inFlight: this.inFlight, capacity: this.capacity, waitingForEngine: this.pending.length };
  }

  /**
   * Stops starting engine calls until resume(): admitted studies still decode, then wait with
   * their slots held, so the capacity still refuses more and a timeout still takes a waiting
   * study out. For draining the engine (maintenance) and for holding requests in flight at a
   * known point; the engine call already running finishes.
   */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Screens one study; throws QueueFullError at once when full, AbortedError on signal. */
  async submit(bytes: Uint8Array, signal?: AbortSignal): Promise<QueuedResult> {
    if (this.inFlight >= this.capacity) {
      throw new QueueFullError(Math.min(60, Math.max(1, Math.ceil((this.inFlight * this.msPerStudy) / 1000))));
    }
    this.inFlight++;
    try {
      await this.decodeSlot(signal);
      let study: PreparedStudy;
      try {
        study = await prepareStudy(bytes, this.pre);
      } finally {
        this.releaseDecode();
      }
      if (signal?.aborted) throw new AbortedError('aborted');
      refuseUnlessFrontal(this.ood, study); // the lung fields: a refused study never reaches the engine
      const r = await this.infer(study, signal);
      const frontal = refuseUnlessFrontal(this.ood, study, r.inf);
      const rendered = await renderStudy(study, r.inf);
      return {
        ...rendered,
        ...r.inf,
        ...decide(this.meta, r.inf.probabilities),
        study,
        frontal,
        timings: {
          decodeMs: study.decodeMs,
          queueMs: r.queueMs,
          inferMs: r.inferMs,
          renderMs: rendered.renderMs,
          batch: r.batch,
        },
      };
    } finally {
      this.inFlight--;
    }
  }

  private decodeSlot(signal?: AbortSignal): Promise<void> {
    if (this.decoding < this.decodeSlots) {
      this.decoding++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener('abort', onAbort);
        this.decoding++;
        resolve();
      };
      const onAbort = () => {
        const i = this.decodeWaiters.indexOf(go);
        if (i >= 0) this.decodeWaiters.splice(i, 1);
        reject(new AbortedError('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.decodeWaiters.push(go);
    });
  }

  private releaseDecode(): void {
    this.decoding--;
    this.decodeWaiters.shift()?.();
  }

  private infer(
    study: PreparedStudy,
    signal?: AbortSignal,
  ): Promise<{ inf: StudyInference; inferMs: number; batch: number; queueMs: number }> {
    return new Promise((resolve, reject) => {
      const entry: Pending = {
        study,
        readyAt: performance.now(),
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.pending.indexOf(entry);
        if (i >= 0) {
          this.pending.splice(i, 1);
          reject(new AbortedError('aborted'));
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.push(entry);
      this.pump();
    });
  }

  /** One engine call at a time (the model serialises anyway); each takes what is waiting. */
  private pump(): void {
    if (this.paused || this.engineBusy || this.pending.length === 0) return;
    this.engineBusy = true;
    const batch = this.pending.splice(0, this.maxBatch);
    const t0 = performance.now();
    inferStudies(
      this.model,
      this.meta,
      batch.map((p) => p.study),
    )
      .then(
        (infs) => {
          const ms = performance.now() - t0;
          this.msPerStudy = 0.8 * this.msPerStudy + 0.2 * (ms / batch.length);
          batch.forEach((p, i) => {
            p.resolve({ inf: infs[i]!, inferMs: ms, batch: batch.length, queueMs: t0 - p.readyAt });
          });
        },
        (e) => {
          for (const p of batch) p.reject(e);
        },
      )
      .finally(() => {
        this.engineBusy = false;
        this.pump();
      });
  }
}
