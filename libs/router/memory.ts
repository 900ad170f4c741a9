import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { freemem, platform } from 'node:os';
import { promisify } from 'node:util';

/** Free memory in GB (10^9 bytes) as the OS sees it, or null when it cannot be read. */
export type MemoryReader = () => Promise<number | null>;

const GB = 1e9;

/** Linux: MemAvailable from /proc/meminfo (free + reclaimable page cache), in kB. */
export function parseMeminfo(text: string): number | null {
  const match = /^MemAvailable:\s+(\d+)\s+kB/m.exec(text);
  return match?.[1] ? (Number(match[1]) * 1024) / GB : null;
}

/** macOS: `vm_stat` pages free + inactive + speculative + purgeable, times the page size it prints. */
export function parseVmStat(text: string): number | null {
  const page = /page size of (\d+) bytes/.exec(text);
  if (!page?.[1]) return null;
  const pages = (name: string): number => Number(new RegExp(`^Pages ${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const free = pages('free') + pages('inactive') + pages('speculative') + pages('purgeable');
  return (free * Number(page[1])) / GB;
}

const run = promisify(execFile);

/** Reads the OS, caching the answer for `cacheMs` so that a burst of requests reads it once. */
export function osMemoryReader(cacheMs = 1000): MemoryReader {
  let cached: { at: number; value: number | null } | null = null;
  return async () => {
    const now = Date.now();
    if (cached && now - cached.at < cacheMs) return cached.value;
    let value: number | null;
    try {
      if (platform() === 'linux') value = parseMeminfo(await readFile('/proc/meminfo', 'utf8'));
      else if (platform() === 'darwin') value = parseVmStat((await run('vm_stat', [], { timeout: 2000 })).stdout);
      else value = freemem() / GB;
    } catch {
      value = null;
    }
    cached = { at: now, value };
    return value;
  };
}
