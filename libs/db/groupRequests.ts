import DataLoader from 'dataloader';

export interface GroupRequestOptions {
  /** Most requests one statement carries. */
  maxBatch?: number;
  /** Groups being written at once; requests arriving meanwhile wait and join the next group. */
  maxConcurrent?: number;
}

/**
 * Group commit for small, frequent statements (writes, and hot lookups such as token checks): requests made while `maxConcurrent` groups are being
 * written wait and form the next group, so under load each commit (and its WAL flush) carries many
 * requests, while a lone request at idle is written on the next turn of the event loop. `write`
 * answers each request in order, with a value or an Error for that request alone.
 */
export function groupRequests<K, V>(
  write: (requests: readonly K[]) => Promise<(V | Error)[]>,
  opts: GroupRequestOptions = {},
): (request: K) => Promise<V> {
  const maxConcurrent = opts.maxConcurrent ?? 2;
  // slots taken by groups scheduled or being written; a finishing group hands its slot on
  let slots = 0;
  const waiting: (() => void)[] = [];
  const handOn = (): void => {
    const next = waiting.shift();
    if (next) next();
    else slots--;
  };
  const loader = new DataLoader<K, V, K>(
    async (requests) => {
      try {
        return await write(requests);
      } finally {
        handOn();
      }
    },
    {
      cache: false,
      maxBatchSize: opts.maxBatch ?? 500,
      batchScheduleFn: (dispatch) => {
        if (slots < maxConcurrent) {
          slots++;
          setImmediate(dispatch);
        } else waiting.push(dispatch);
      },
    },
  );
  return (request) => loader.load(request);
}
