import type { Intent } from '@handoff/contracts';
import type { Stack } from '../support/stack.ts';

/** One line of figures per scenario, in the runner's output. */
export function report(scenario: string, figures: Record<string, string | number>): void {
  const line = Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  process.stdout.write(`# chaos ${scenario}: ${line}\n`);
}

/**
 * Creates intents over HTTP with bounded concurrency; returns them in key order. With `perSecond`,
 * create i is not sent before i / perSecond seconds from the start (work that arrives over time).
 */
export async function createMany(
  stack: Stack,
  count: number,
  make: (i: number) => Record<string, unknown>,
  concurrency = 25,
  perSecond?: number,
): Promise<Intent[]> {
  const out: Intent[] = new Array(count);
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        if (perSecond) await sleep(started + (i * 1000) / perSecond - Date.now());
        const res = await stack.api<Intent>('POST', '/v1/intents', make(i));
        if (res.status !== 201 && res.status !== 200)
          throw new Error(`create ${i} answered ${res.status}: ${JSON.stringify(res.body)}`);
        out[i] = res.body;
      }
    }),
  );
  return out;
}

export async function countByState(stack: Stack): Promise<Record<string, number>> {
  const rows = await stack.tdb.db
    .selectFrom('intents')
    .select(['state', (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
