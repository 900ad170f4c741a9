import { randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errCode } from './config.ts';
import { isAlive } from './processes.ts';

const LOCK_TIMEOUT_MS = 120_000;

/** Serialises launchers on one home, so two processes never initdb or start the same data dir. */
export async function withHomeLock<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(home, 'pg.lock');
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      await fsp.writeFile(file, token, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
    }
    const content = await fsp.readFile(file, 'utf8').catch(() => '');
    const holder = Number.parseInt(content, 10);
    const age = Date.now() - ((await fsp.stat(file).catch(() => undefined))?.mtimeMs ?? Date.now());
    // A launcher that died mid-start leaves its lock behind; an empty file is one being written.
    if ((content !== '' && !isAlive(holder)) || (content === '' && age > 10_000)) {
      await fsp.unlink(file).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${file} (held by pid ${content.split(' ')[0] ?? '?'}); remove it if no handoff process is starting Postgres`,
      );
    }
    await sleep(100);
  }
  try {
    return await fn();
  } finally {
    const content = await fsp.readFile(file, 'utf8').catch(() => '');
    if (content === token) await fsp.unlink(file).catch(() => {});
  }
}
