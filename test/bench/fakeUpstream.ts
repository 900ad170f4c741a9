import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The benchmark's upstream: an OpenAI-compatible server that answers at once with a fixed small
 * body, or a stream of STREAM_CHUNKS SSE chunks and `[DONE]`. It runs in its own process (see
 * test/bench/router.ts) so it does not share an event loop with the router or the load generator.
 * Prints `{"port": N}` on stdout when listening.
 */

export const BENCH_MODEL = 'bench-model';
export const STREAM_CHUNKS = 20;
/** The text of the non-streamed answer, and of the streamed one put together. */
export const ANSWER_TEXT = Array.from({ length: STREAM_CHUNKS }, (_, i) => `w${i} `).join('');

const created = 1_700_000_000;
const usage = { prompt_tokens: 12, completion_tokens: STREAM_CHUNKS, total_tokens: 12 + STREAM_CHUNKS };
const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created,
    model: BENCH_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content: ANSWER_TEXT }, finish_reason: 'stop' }],
    usage,
  }),
);
const frame = (delta: Record<string, unknown>, finish: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created, model: BENCH_MODEL, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const frames: string[] = [];
for (let i = 0; i < STREAM_CHUNKS; i++)
  frames.push(frame(i === 0 ? { role: 'assistant', content: `w${i} ` } : { content: `w${i} ` }));
frames.push(frame({}, 'stop') + 'data: [DONE]\n\n');
const models = Buffer.from(
  JSON.stringify({ object: 'list', data: [{ id: BENCH_MODEL, object: 'model', created, owned_by: 'bench' }] }),
);

function serve(): void {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': models.length });
        res.end(models);
        return;
      }
      // A cheap look at the body: the benchmark sends either stream:true or no stream field.
      if (!Buffer.concat(chunks).includes('"stream":true')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': completion.length });
        res.end(completion);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      // One chunk per turn of the event loop, so each goes out as its own write, as a model's tokens do.
      let i = 0;
      const next = (): void => {
        if (res.destroyed) return;
        const last = i === frames.length - 1;
        if (last) res.end(frames[i]);
        else {
          res.write(frames[i]);
          i += 1;
          setImmediate(next);
        }
      };
      next();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) serve();
