import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Exact token counts off the event loop. gpt-tokenizer's BPE is quadratic on a long run without
 * whitespace (40 KB of one letter: 0.8 s; 200 KB: about 20 s; 5 MB: hours), and a count on the
 * event loop stops every other request of the coordinator, /healthz and SIGTERM included. So texts
 * are counted by a small pool of worker threads, and a count that cannot be exact in time is the
 * byte bound instead: o200k_base is a byte-level BPE, so no text has more tokens than UTF-8 bytes
 * (a safe overestimate, about 4x for English, 1x-1.5x for the pathological runs that hit the caps).
 *
 * The caps: a job of more than `maxChars` characters is not sent to a worker at all (4 Mi chars:
 * the text of a 1M-token context window, where the byte bound is already past every context window
 * in use, so an exact count would change no routing decision). A job not answered `timeoutMs` after
 * it was asked for (waiting in the queue included) gets the bound, and the worker counting it is
 * terminated (terminate() stops even a loop that never yields) and replaced on the next job. When
 * `maxQueued` jobs already wait, a new one gets the bound at once.
 */

export type TokenizeFallback = 'too_large' | 'timeout' | 'queue_full' | 'worker_failed' | 'closed';

export interface TokenCount {
  /** One count per text: exact, or each text's UTF-8 byte length when `fallback` says why not. */
  tokens: number[];
  exact: boolean;
  fallback?: TokenizeFallback;
}

export interface TokenCounter {
  count(texts: readonly string[]): Promise<TokenCount>;
  /** Terminates the workers; jobs still waiting get the bound. */
  close(): Promise<void>;
}

export interface TokenCounterOptions {
  /** Worker threads; default 2 (at most the machine's parallelism). */
  workers?: number;
  timeoutMs?: number;
  maxChars?: number;
  maxQueued?: number;
  /** Start the workers now rather than at the first count (a cold start takes ~250 ms of the time cap). */
  prewarm?: boolean;
}

export const TOKENIZE_TIMEOUT_MS = 2000;
export const TOKENIZE_MAX_CHARS = 4 * 1024 * 1024;
export const TOKENIZE_MAX_QUEUED = 64;

const WORKER_URL = new URL('./tokenWorker.ts', import.meta.url);

/** The upper bound of a text's token count without tokenizing (see above). */
export function byteBound(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

interface Job {
  id: number;
  texts: readonly string[];
  timer: NodeJS.Timeout;
  done: (answer: number[] | TokenizeFallback) => void;
}

interface Slot {
  worker: Worker | null;
  job: Job | null;
}

export function createTokenCounter(opts: TokenCounterOptions = {}): TokenCounter {
  const timeoutMs = opts.timeoutMs ?? TOKENIZE_TIMEOUT_MS;
  const maxChars = opts.maxChars ?? TOKENIZE_MAX_CHARS;
  const maxQueued = opts.maxQueued ?? TOKENIZE_MAX_QUEUED;
  // At most two, and one core always left to the event loop (a 2-core node gets one worker).
  const workers = Math.max(1, Math.min(opts.workers ?? 2, availableParallelism() - 1));
  const slots: Slot[] = Array.from({ length: workers }, () => ({ worker: null, job: null }));
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;
  if (opts.prewarm) for (const slot of slots) slot.worker = spawn(slot);

  /** Drops the slot's worker (it is stuck or dead); the next job starts a fresh one. */
  function discard(slot: Slot): void {
    const w = slot.worker;
    slot.worker = null;
    slot.job = null;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => {});
      void w.terminate().catch(() => {});
    }
  }

  function spawn(slot: Slot): Worker {
    const w = new Worker(WORKER_URL);
    w.on('message', (msg: { id: number; tokens: number[] }) => {
      if (slot.worker !== w || slot.job?.id !== msg.id) return;
      const job = slot.job;
      slot.job = null;
      job.done(msg.tokens);
      pump();
    });
    const failed = (): void => {
      if (slot.worker !== w) return;
      const job = slot.job;
      discard(slot);
      job?.done('worker_failed');
      pump();
    };
    w.on('error', failed);
    w.on('exit', failed);
    // An idle pool must not keep the process alive (the coordinator exits on SIGTERM without closing
    // it). After the listeners: adding a 'message' listener refs the worker again.
    w.unref();
    return w;
  }

  function pump(): void {
    for (const slot of slots) {
      if (closed || queue.length === 0) return;
      if (slot.job) continue;
      const job = queue.shift()!;
      slot.job = job;
      slot.worker ??= spawn(slot);
      slot.worker.postMessage({ id: job.id, texts: job.texts });
    }
  }

  function timedOut(job: Job): void {
    const waiting = queue.indexOf(job);
    if (waiting >= 0) queue.splice(waiting, 1);
    const slot = slots.find((s) => s.job === job);
    if (slot) discard(slot);
    job.done('timeout');
    pump();
  }

  return {
    count(texts) {
      const bound = (fallback: TokenizeFallback): TokenCount => ({
        tokens: texts.map(byteBound),
        exact: false,
        fallback,
      });
      if (closed) return Promise.resolve(bound('closed'));
      let chars = 0;
      for (const t of texts) chars += t.length;
      if (chars > maxChars) return Promise.resolve(bound('too_large'));
      if (queue.length >= maxQueued) return Promise.resolve(bound('queue_full'));
      return new Promise<TokenCount>((resolve) => {
        let settled = false;
        const job: Job = {
          id: nextId++,
          texts,
          timer: setTimeout(() => timedOut(job), timeoutMs),
          done: (answer) => {
            if (settled) return;
            settled = true;
            clearTimeout(job.timer);
            resolve(typeof answer === 'string' ? bound(answer) : { tokens: answer, exact: true });
          },
        };
        queue.push(job);
        pump();
      });
    },

    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.done('closed');
      for (const slot of slots) {
        const job = slot.job;
        discard(slot);
        job?.done('closed');
      }
    },
  };
}

let shared: TokenCounter | undefined;

/** The process's counter, for the router and the agent loop (its workers never hold the process open). */
export function sharedTokenCounter(): TokenCounter {
  shared ??= createTokenCounter({ prewarm: true });
  return shared;
}
