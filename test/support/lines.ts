import type { Readable } from 'node:stream';

/**
 * Calls `onLine` for every non-empty line a child's stdout and stderr print. A pipe delivers
 * chunks, not lines: each stream keeps its unfinished last line for its next chunk.
 */
export function onOutputLines(streams: (Readable | null)[], onLine: (line: string) => void): void {
  for (const stream of streams) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line) onLine(line);
    });
  }
}

/** A JSON client for the coordinator's API with one bearer token (tests only: throws on non-JSON). */
export function apiClient(baseUrl: string, token: string) {
  return async <T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
}
