import { parentPort } from 'node:worker_threads';
import { countTokens } from 'gpt-tokenizer';

/**
 * The tokenizer's thread (see tokenCounter.ts): counts the texts of one job at a time. BPE on a long
 * run without whitespace is quadratic, so a job may take minutes; the pool terminates this thread
 * when its time is up, which stops even a loop that never yields.
 */
parentPort?.on('message', (job: { id: number; texts: string[] }) => {
  parentPort?.postMessage({ id: job.id, tokens: job.texts.map((text) => countTokens(text)) });
});
